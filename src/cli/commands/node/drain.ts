import { arg, defineCommand, flag, option } from '../../command.ts';
import { duration, id } from '../../values.ts';
import { allDone, DEFAULT_MOVE_WAIT_SECS, followMoves, moveBlocks } from '../instance/move.ts';

export const nodeDrain = defineCommand({
  path: ['node', 'drain'],
  description:
    'Drain a node (admin): cordon it and move every movable instance away (running and warm ones sleep, move and wake); pinned ones wait',
  args: { node: arg(id('node'), "the node id (from 'mvm node list')") },
  options: {
    wait: flag('follow the moves until they end; fail unless every one is done'),
    timeout: option(
      duration,
      `how long --wait follows them (default ${DEFAULT_MOVE_WAIT_SECS / 60}m)`,
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const api = ctx.client();
    const result = await api.call('drainNode', { params: { node: args.node } });
    const waiting = result.plan.filter((a) => a.kind === 'wait');
    const summary = {
      kind: 'text' as const,
      text: `node '${args.node}' is cordoned; ${result.moves.length} move(s) asked for, ${waiting.length} instance(s) wait${waiting.map((w) => `\n  ${w.key}: ${w.kind === 'wait' ? w.reason : ''}`).join('')}`,
    };
    if (opts.wait !== true) return { data: result, human: [summary, moveBlocks(result.moves)] };
    const print = (line: string) => ctx.print(line);
    const moves = await followMoves(
      api,
      result.moves,
      print,
      opts.timeout ?? DEFAULT_MOVE_WAIT_SECS,
    );
    allDone(moves);
    return { data: { ...result, moves }, human: [summary, moveBlocks(moves)] };
  },
});
