import type { DrainActionView } from '../../../contract/moves.ts';
import { arg, defineCommand } from '../../command.ts';
import type { Block } from '../../render.ts';
import { id } from '../../values.ts';

function what(a: DrainActionView): [string, string] {
  switch (a.kind) {
    case 'move':
      return [a.sleepFirst ? 'sleep, move, wake' : 'move', `to ${a.target}, then ${a.restore}`];
    case 'replace':
      return ['re-place', 'never booted: placed on another node'];
    case 'wait':
      return ['wait', a.reason];
    case 'skip':
      return ['skip', 'being destroyed'];
  }
}

function planBlocks(node: string, plan: DrainActionView[]): Block[] {
  const moving = plan.filter((a) => a.kind === 'move').length;
  const waiting = plan.filter((a) => a.kind === 'wait').length;
  return [
    {
      kind: 'table',
      columns: ['INSTANCE', 'ACTION', 'DETAIL'],
      rows: plan.map((a) => [a.key, ...what(a)]),
      empty: `node '${node}' runs nothing: a drain has nothing to do`,
    },
    {
      kind: 'text',
      text: `${moving} would move, ${waiting} would wait; nothing was changed ('mvm node cordon ${node}' stops new placements there)`,
    },
  ];
}

export const nodeDrainPlan = defineCommand({
  path: ['node', 'drain-plan'],
  description:
    'Show what draining a node would do with each instance (admin): where it moves, which sleep first, which wait; changes nothing',
  args: { node: arg(id('node'), "the node id (from 'mvm node list')") },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const plan = await ctx.client().call('drainPlan', { params: { node: args.node } });
    return { data: plan, human: planBlocks(args.node, plan) };
  },
});
