/**
 * Published ports (pure): a pool's `HOSTPORT:GUESTPORT` pairs, which every node holding one of
 * its instances forwards from a host TCP port to a guest's port (agent/publish), and which
 * instance a connection goes to.
 */
import { ValidationError } from './errors.ts';

export interface PublishedPort {
  hostPort: number;
  guestPort: number;
}

/** Where a node binds its published ports unless `MVM_PUBLISH_ADDRESS` says otherwise. */
export const DEFAULT_PUBLISH_ADDRESS = '127.0.0.1';

/** At most this many published ports per pool. */
export const MAX_PUBLISHED_PORTS = 16;

const PAIR = /^([1-9][0-9]{0,4}):([1-9][0-9]{0,4})$/;

/** `18789:18789` → {hostPort, guestPort}; anything else a ValidationError naming the value. */
export function parsePublish(raw: string, label = '--publish'): PublishedPort {
  const match = PAIR.exec(raw.trim());
  const hostPort = Number(match?.[1]);
  const guestPort = Number(match?.[2]);
  if (!match || hostPort > 65_535 || guestPort > 65_535) {
    const problem = `${label} '${raw}' must be HOSTPORT:GUESTPORT, two TCP ports 1-65535, like 18789:18789`;
    throw new ValidationError(problem, [problem]);
  }
  return { hostPort, guestPort };
}

/** Problems of a pool's list: host ports must be distinct within it (guest ports may repeat). */
export function publishProblems(ports: readonly PublishedPort[]): string[] {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const { hostPort } of ports) (seen.has(hostPort) ? twice : seen).add(hostPort);
  return [...twice].map((port) => `host port ${port} is published twice`);
}

/** How a connection picks its instance: the running first, then warm (a resume), then asleep. */
const PREFERENCE: Readonly<Record<string, number>> = { running: 0, warm: 1, sleeping: 2 };

export interface PublishCandidate {
  key: string;
  status: string;
}

/**
 * The instance a new connection goes to: a running one when there is one, else the one that
 * is cheapest to bring up (warm before sleeping); among equals, connections are spread by
 * `turn` (a counter the caller advances), so several running instances share the load.
 * Undefined when none can serve (stopped, failed, being created).
 */
export function pickPublishTarget<T extends PublishCandidate>(
  candidates: readonly T[],
  turn = 0,
): T | undefined {
  const ranked = candidates
    .filter((c) => PREFERENCE[c.status] !== undefined)
    .sort((a, b) => (PREFERENCE[a.status] ?? 9) - (PREFERENCE[b.status] ?? 9) || cmp(a.key, b.key));
  const best = ranked[0];
  if (!best) return undefined;
  const equals = ranked.filter((c) => c.status === best.status);
  return equals[turn % equals.length];
}

/** Whether the picked instance must be raised before its port answers. */
export function needsWake(status: string): boolean {
  return status === 'warm' || status === 'sleeping';
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
