/**
 * Placement by what an instance holds. A running or warm instance may hold its full size in
 * host RAM, but an idle guest that hands free pages back (the balloon's free-page reporting,
 * drivers/qemu/qemu-balloon.ts) holds only its working set plus its VMM. The node's agent
 * reports, with every heartbeat, what its running and warm instances hold (each instance's
 * VMM resident memory, bounded by its size) next to what they are sized at; the scheduler
 * counts a node's committed memory as its instances' sizes less what the last report says
 * they do not hold. The tenant quota is untouched: it stays on what an instance may hold.
 *
 * Pure, property-tested (test/core/held-memory.test.ts).
 */

const KIB_PER_MIB = 1024;

/**
 * What one running or warm instance holds, MiB: its VMM's resident memory, rounded up, never
 * more than its size; its size when nothing was measured (a VMM not yet sampled holds all it may).
 */
export function instanceHeldMib(sizeMib: number, rssKib: number | undefined): number {
  if (rssKib === undefined || !Number.isFinite(rssKib) || rssKib < 0) return sizeMib;
  return Math.min(sizeMib, Math.ceil(rssKib / KIB_PER_MIB));
}

export interface HeldInput {
  status: string;
  memMib: number;
  rssKib?: number;
}

/** Running and warm instances hold memory; sleeping and stopped ones none. */
export function holdsMemory(status: string): boolean {
  return status === 'running' || status === 'warm';
}

/** A node's held memory, MiB: the sum of what each running or warm instance holds. */
export function nodeHeldMib(instances: readonly HeldInput[]): number {
  let held = 0;
  for (const i of instances) if (holdsMemory(i.status)) held += instanceHeldMib(i.memMib, i.rssKib);
  return held;
}

/** A node's last report: its running and warm instances' sizes and what they held. */
export interface HeldReport {
  /** Sum of the sizes of the running and warm instances it reported. */
  memMib: number;
  /** What they held (nodeHeldMib); absent from agents that do not measure it. */
  heldMemMib?: number | undefined;
}

/**
 * The memory a node has committed, MiB, for placement: `sizedMib` (the sizes of the instances
 * the coordinator has running or warm there) less the report's credit, what its reported
 * instances were sized at but did not hold.
 *
 * The report lags the coordinator by up to a heartbeat. An instance placed since is counted at
 * its size (it is not in the report). One that stopped holding since would be credited once
 * more; when the sizes committed fall below the sizes reported, the credit shrinks by the
 * difference, so a node whose instances only went away is never counted below what is left.
 * Never below 0, never above `sizedMib`.
 */
export function committedMemMib(sizedMib: number, report: HeldReport | null | undefined): number {
  const credit = reportCredit(report);
  if (report === null || report === undefined || credit === undefined) return sizedMib;
  const gone = Math.max(0, report.memMib - sizedMib);
  const applied = Math.max(0, credit - gone);
  return Math.max(0, Math.min(sizedMib, sizedMib - applied));
}

/**
 * A report's credit, MiB: what its instances were sized at but did not hold; undefined when
 * it does not say what they held. It shrinks as guests touch more of their memory.
 */
export function reportCredit(report: HeldReport | null | undefined): number | undefined {
  const held = report?.heldMemMib;
  if (report === null || report === undefined || held === undefined) return undefined;
  return Math.max(0, report.memMib - held);
}
