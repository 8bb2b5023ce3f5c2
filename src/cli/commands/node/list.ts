import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { defineCommand } from '../../command.ts';
import { nodeTable } from '../../views/node-views.ts';

export const nodeList = defineCommand({
  path: ['node', 'list'],
  description: 'List the KVM hosts in the fleet',
  args: {},
  options: {},
  output: 'data',
  async handler(ctx) {
    const nodes = await listAll(ctx.client(), 'listNodes', {});
    return { data: nodes, human: [nodeTable(nodes, new Date())] };
  },
});
