import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';

const nodeArg = arg(id('node'), "the node id (from 'mvm node list')");

export const nodeCordon = defineCommand({
  path: ['node', 'cordon'],
  description:
    'Cordon a node (admin): it keeps what it runs and nothing new is placed there; idempotent',
  args: { node: nodeArg },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const node = await ctx.client().call('cordonNode', { params: { node: args.node } });
    return {
      data: node,
      human: [
        {
          kind: 'text',
          text: `node '${node.id}' is cordoned: nothing new is placed there; 'mvm node uncordon ${node.id}' lets it take placements again`,
        },
      ],
    };
  },
});

export const nodeUncordon = defineCommand({
  path: ['node', 'uncordon'],
  description: 'Let a cordoned node take placements again (admin); idempotent',
  args: { node: nodeArg },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const node = await ctx.client().call('uncordonNode', { params: { node: args.node } });
    return {
      data: node,
      human: [{ kind: 'text', text: `node '${node.id}' is ${node.status}: it takes placements` }],
    };
  },
});
