import type { RolloutView } from '../../contract/rollouts.ts';
import type { Block } from '../render.ts';

/** A revision id shortened for people; `dev` stays as it is. */
const short = (revision: string): string =>
  revision.length > 12 ? revision.slice(0, 12) : revision;

/** One line of where a rollout stands, e.g. `running 2/4 ready, 1 replacing (canary)`. */
export function rolloutLine(r: RolloutView): string {
  const { total, ready, replacing } = r.progress;
  const phase = r.state === 'running' && !r.canariesDone ? ' (canary)' : '';
  return `${r.state} ${ready}/${total} ready, ${replacing} replacing${phase}`;
}

export function rolloutFields(r: RolloutView): Block {
  return {
    kind: 'fields',
    title: 'rollout',
    fields: [
      ['state', rolloutLine(r)],
      [
        'revisions',
        `${short(r.from)} -> ${short(r.to)}${r.state === 'rolling-back' ? ' (going back)' : ''}`,
      ],
      ['canary', `${r.canary}, max unavailable ${r.maxUnavailable}`],
      ['sleeping', r.includeSleeping ? 'replaced (snapshots discarded)' : 'kept on their snapshot'],
      ['started', `${r.startedAt} by ${r.startedBy}`],
      ...(r.finishedAt !== null ? [['finished', r.finishedAt] as const] : []),
      ...(r.reason !== null ? [['reason', r.reason] as const] : []),
    ],
  };
}
