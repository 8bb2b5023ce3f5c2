import { instanceStatuses } from '../../../core/model.ts';
import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { choice, id } from '../../values.ts';
import { instanceChangeLine, instanceTable } from '../../views/instance-views.ts';
import { watchInstances, type InstanceChange } from './watch-instances.ts';

export const instanceList = defineCommand({
  path: ['instance', 'list'],
  description:
    'List instances, optionally only those of a tenant, pool, node or status; with --watch, then each change as it happens, until ^C',
  args: {},
  options: {
    tenant: option(id('tenant'), 'only this tenant'),
    pool: option(id('pool'), 'only pools with this id'),
    node: option(id('node'), 'only instances placed on this node'),
    status: option(choice(instanceStatuses, '<status>'), 'only instances in this status'),
    watch: flag('print the list, then each change as it happens (server-sent events), until ^C'),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const { watch, ...filters } = opts;
    const query = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined));
    if (!watch) {
      const instances = await listAll(ctx.client(), 'listInstances', { query });
      return { data: instances, human: [instanceTable(instances)] };
    }
    const changes: InstanceChange[] = [];
    const stop = new AbortController();
    void ctx.untilShutdown().then(() => stop.abort());
    await watchInstances(ctx.client(), query, stop.signal, (change) => {
      changes.push(change);
      ctx.print(instanceChangeLine(change.type, change.item));
    });
    return { data: changes.map((c) => ({ type: c.type, instance: c.item })), human: [] };
  },
});
