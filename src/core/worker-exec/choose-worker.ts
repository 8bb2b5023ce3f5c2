/**
 * Which worker runs a gateway's command (docs/openclaw.md, "Which worker"). Pure.
 *
 * One worker per OpenClaw session key: OpenClaw's sandbox scope `session` keeps one workspace
 * per session and a remote backend seeds it once, then works in it, so every command of a
 * session must land where its workspace is. The key is placed by rendezvous hashing over the
 * tenant's worker instances: the same key gives the same worker with no state to keep, and
 * when the pool grows or shrinks only the keys of the instances added or removed move. A named
 * target must be a live worker instance of the same tenant; nothing else is ever a candidate.
 */
import { createHash } from 'node:crypto';

export interface WorkerCandidate {
  poolId: string;
  instanceId: string;
  /** Desired status: stopped and destroyed instances take no commands. */
  desiredStatus: string;
}

export type WorkerSelection =
  { kind: 'key'; key: string } | { kind: 'target'; poolId: string; instanceId: string };

export interface ChosenWorker {
  poolId: string;
  instanceId: string;
}

/** The key used when the command names neither a key nor a target. */
export const DEFAULT_WORKER_KEY = 'default';

const live = (c: WorkerCandidate) =>
  c.desiredStatus !== 'stopped' && c.desiredStatus !== 'destroyed';

export function chooseWorker(
  candidates: readonly WorkerCandidate[],
  selection: WorkerSelection,
): ChosenWorker | undefined {
  const usable = candidates.filter(live);
  if (selection.kind === 'target') {
    const found = usable.find(
      (c) => c.poolId === selection.poolId && c.instanceId === selection.instanceId,
    );
    return found && { poolId: found.poolId, instanceId: found.instanceId };
  }
  let best: { worker: ChosenWorker; weight: string } | undefined;
  for (const c of usable) {
    const weight = createHash('sha256')
      .update(`${selection.key}\0${c.poolId}/${c.instanceId}`)
      .digest('hex');
    if (!best || weight > best.weight)
      best = { worker: { poolId: c.poolId, instanceId: c.instanceId }, weight };
  }
  return best?.worker;
}
