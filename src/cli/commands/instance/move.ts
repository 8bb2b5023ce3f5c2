import { HostError } from '../../../core/errors.ts';
import type { InstanceMoveView } from '../../../contract/moves.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../../drivers/clock/system-clock.ts';
import { abortableSleep } from '../../../drivers/process/wait-until.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import type { Block } from '../../render.ts';
import { duration, id, instancePath } from '../../values.ts';

const POLL_MS = 1000;
export const DEFAULT_MOVE_WAIT_SECS = 1800;

const finished = (m: InstanceMoveView) => m.step === 'done' || m.step === 'failed';

export function moveLine(m: InstanceMoveView): string {
  const key = `${m.tenantId}/${m.poolId}/${m.instanceId}`;
  const why = m.reason === null ? '' : ` (${m.reason})`;
  return `move ${m.id} of ${key}: ${m.sourceNode} → ${m.targetNode}, ${m.step}${why}`;
}

export function moveBlocks(moves: InstanceMoveView[]): Block {
  return {
    kind: 'table',
    columns: ['MOVE', 'INSTANCE', 'FROM', 'TO', 'STEP', 'WAKE', 'REASON'],
    rows: moves.map((m) => [
      m.id,
      `${m.tenantId}/${m.poolId}/${m.instanceId}`,
      m.sourceNode,
      m.targetNode,
      m.step,
      m.wake ? 'yes' : 'no',
      m.reason ?? '',
    ]),
    empty: 'no moves',
  };
}

/** Follows moves until each is done or failed, printing every change of step. */
export async function followMoves(
  api: ApiClient,
  started: InstanceMoveView[],
  print: (line: string) => void,
  timeoutSecs: number,
): Promise<InstanceMoveView[]> {
  const deadline = Date.now() + timeoutSecs * 1000;
  let moves = started;
  const said = new Map<string, string>();
  for (;;) {
    for (const m of moves) {
      const line = moveLine(m);
      if (said.get(m.id) !== line) print(line);
      said.set(m.id, line);
    }
    if (moves.every(finished)) return moves;
    if (Date.now() > deadline) {
      throw new HostError(
        `moves still under way after ${timeoutSecs} s; follow them with 'mvm instance move-status <move>'`,
      );
    }
    await abortableSleep(systemClock, POLL_MS);
    moves = await Promise.all(
      moves.map((m) => (finished(m) ? m : api.call('getMove', { params: { move: m.id } }))),
    );
  }
}

/** `--wait`: every move must end done. */
export function allDone(moves: InstanceMoveView[]): void {
  const failed = moves.filter((m) => m.step !== 'done');
  if (failed.length === 0) return;
  throw new HostError(
    `${failed.length} move(s) failed and their instances stay asleep on their source: ${failed.map(moveLine).join('; ')}`,
  );
}

export const instanceMove = defineCommand({
  path: ['instance', 'move'],
  description:
    'Move a sleeping or stopped instance to another node (admin), with its id, IP, MAC and data disk; --wake wakes it there',
  args: { path: arg(instancePath, 'the instance') },
  options: {
    node: option(id('node'), "the node to move it to (from 'mvm node list')"),
    wake: flag('wake it on the target once it is there'),
    wait: flag('follow the move until it ends; fail unless it is done'),
    timeout: option(
      duration,
      `how long --wait follows it (default ${DEFAULT_MOVE_WAIT_SECS / 60}m)`,
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const { tenantId, poolId, instanceId } = args.path;
    if (opts.node === undefined) throw new HostError("missing --node; see 'mvm node list'");
    const api = ctx.client();
    const move = await api.call('moveInstance', {
      params: { tenant: tenantId, pool: poolId, instance: instanceId },
      body: { node: opts.node, wake: opts.wake === true },
    });
    if (opts.wait !== true) {
      const text = `${moveLine(move)}; 'mvm instance move-status ${move.id}' follows it`;
      return { data: move, human: [{ kind: 'text', text }] };
    }
    const print = (line: string) => ctx.print(line);
    const [done] = await followMoves(api, [move], print, opts.timeout ?? DEFAULT_MOVE_WAIT_SECS);
    allDone(done ? [done] : []);
    return { data: done ?? move, human: [{ kind: 'text', text: moveLine(done ?? move) }] };
  },
});

export const instanceMoveStatus = defineCommand({
  path: ['instance', 'move-status'],
  description: 'Show a move: its step, its source and target, why it failed (admin)',
  args: { move: arg(id('move'), "the move id (from 'mvm instance move')") },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const move = await ctx.client().call('getMove', { params: { move: args.move } });
    return { data: move, human: [moveBlocks([move])] };
  },
});
