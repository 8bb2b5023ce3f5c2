import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { nodeFields } from '../../views/node-views.ts';

export const nodeInfo = defineCommand({
  path: ['node', 'info'],
  description: "Show a node's capacity, usage, labels and heartbeat",
  args: { id: arg(id('node'), 'the node id') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const node = await ctx.client().call('getNode', { params: { node: args.id } });
    return { data: node, human: [nodeFields(node, new Date())] };
  },
});
