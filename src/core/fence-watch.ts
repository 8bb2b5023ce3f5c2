/**
 * The fence watchdog's decisions (agent/lease/fence-watchdog.ts). A live agent fences itself
 * (core/node-lease.ts): once its lease runs out it pauses the running instances the
 * coordinator may re-place. A dead agent cannot, so each agent following a coordinator starts
 * a small watchdog process that outlives it. The agent writes its lease's end to a file on
 * every renewal; when that agent is gone and the end has passed, the watchdog pauses what the
 * agent would have paused, then exits. Another agent writing the file (a restart) ends it at
 * once: that agent fences for itself from then on.
 */
import type { InstanceStatus } from './model.ts';

/** A process named so that a reused pid is never mistaken for it. */
export interface ProcessId {
  pid: number;
  /** /proc/<pid>/stat field 22. */
  startTime: number;
}

/** What the agent writes on every renewal (`<data-dir>/lease.json`). */
export interface LeaseRecord {
  agent: ProcessId;
  /** When its lease runs out (ms since the epoch, the host's clock). */
  expiresAt: number;
}

export interface WatchFacts {
  now: number;
  /** The agent this watchdog was started for. */
  watching: ProcessId;
  /** The lease file as read now; undefined when it is missing or unreadable. */
  lease: LeaseRecord | undefined;
  /** Whether the agent the lease names still runs (pid and start time). */
  agentAlive: boolean;
}

export type WatchDecision =
  { kind: 'wait'; ms: number } | { kind: 'fence' } | { kind: 'exit'; why: string };

/** Never sleep longer than this between looks: a renewal or a takeover is seen soon. */
export const WATCH_EVERY_MS = 1_000;

export function decideWatch(facts: WatchFacts): WatchDecision {
  const { lease, watching } = facts;
  if (!lease) {
    return facts.agentAlive
      ? { kind: 'wait', ms: WATCH_EVERY_MS }
      : { kind: 'exit', why: 'the agent ended without a lease file: it held nothing to fence' };
  }
  if (lease.agent.pid !== watching.pid || lease.agent.startTime !== watching.startTime) {
    return { kind: 'exit', why: `agent pid ${lease.agent.pid} took the data dir over` };
  }
  if (facts.agentAlive) return { kind: 'wait', ms: WATCH_EVERY_MS };
  const left = lease.expiresAt - facts.now;
  if (left > 0) return { kind: 'wait', ms: Math.min(left, WATCH_EVERY_MS) };
  return { kind: 'fence' };
}

/** One of the dead agent's instances, as its records and last document say. */
export interface FenceCandidate {
  /** `tenant/pool/instance`. */
  label: string;
  /** Its record's status (a warm one is paused already; a sleeping one has no VMM). */
  status: InstanceStatus;
  hasVmm: boolean;
  /** Its pool may be re-placed; undefined: the last document does not name it. */
  replaceable: boolean | undefined;
}

/**
 * Which VMMs the watchdog pauses: every running one the coordinator may re-place, as the
 * agent's own fence would (pinned pools run on). One the last document does not name is not
 * meant to run here at all, so it is paused too.
 */
export function fenceTargets(candidates: readonly FenceCandidate[]): string[] {
  return candidates
    .filter((c) => c.hasVmm && c.status === 'running' && c.replaceable !== false)
    .map((c) => c.label)
    .sort();
}
