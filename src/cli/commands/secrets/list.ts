import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { arg, defineCommand, option } from '../../command.ts';
import { id } from '../../values.ts';
import { secretTable } from '../../views/secret-views.ts';

export const secretsList = defineCommand({
  path: ['secrets', 'list'],
  description: "List a tenant's secrets of both scopes: names, versions and times, never values",
  args: { tenant: arg(id('tenant'), 'the tenant') },
  options: { pool: option(id('pool'), "only the tenant's secrets and this pool's") },
  output: 'data',
  async handler(ctx, args, opts) {
    const secrets = await listAll(ctx.client(), 'listSecrets', {
      params: { tenant: args.tenant },
      query: opts.pool !== undefined ? { pool: opts.pool } : {},
    });
    const empty = `no secrets; set one with 'mvm secrets set ${args.tenant} NAME=@FILE'`;
    return { data: secrets, human: [secretTable(secrets, empty)] };
  },
});
