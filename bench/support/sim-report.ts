/** The fleet simulation's figures, and the goals next to them (issue 17). */
import type { MemorySplit } from './coordinator-child.ts';
import type { AgentCounters } from './sim-agents.ts';
import { percentile } from './stats.ts';

export interface SimFigures {
  store: string;
  nodes: number;
  instances: number;
  seedSecs: number;
  firstDocsSecs: number;
  steadySecs: number;
  burstSecs: number;
  scaleMs: number[];
  actingMs: number[];
  /** Changes no agent held 5 s after the stream's last scale; of those, still none `lost-after` later. */
  unseen: number;
  lost: number;
  /** Instances whose agent's document still differed from the store after settling, and how long that took. */
  differing: number;
  settleSecs: number;
  scaleOps: number;
  apiMs: number[];
  heartbeatMs: number[];
  reportMs: number[];
  mutationsPerSec: number;
  burstScaleMs: number[];
  cpuSteadyPct: number;
  cpuBurstPct: number;
  rssPeakMib: number;
  rssEndMib: number;
  /** The coordinator's memoryUsage() (MiB) at the sample of peak RSS. */
  memoryAtPeak?: MemorySplit;
  /** The highest heap used of the 1 s samples (garbage included). */
  heapUsedPeakMib?: number;
  counters: AgentCounters;
  /** How heartbeats sent the report: `deltas, 5% changed`, or undefined for whole reports. */
  reports?: string;
}

const ms = (values: number[]) =>
  values.length === 0
    ? 'no samples'
    : `${percentile(values, 50).toFixed(1)} / ${percentile(values, 99).toFixed(1)} ms (${values.length})`;

export function renderFigures(f: SimFigures): string {
  const c = f.counters;
  return [
    `fleet-sim on ${f.store}: ${f.nodes} simulated agents, ${f.instances} instances ` +
      `(seeded in ${f.seedSecs.toFixed(1)} s; every agent held its document after ${f.firstDocsSecs.toFixed(1)} s)`,
    `steady ${f.steadySecs} s (paced scale stream, reads, heartbeats, status reports), then burst ${f.burstSecs} s`,
    '| figure | p50 / p99 (samples) |',
    '| --- | --- |',
    `| pool scale (steady) | ${ms(f.scaleMs)} |`,
    `| scale to agent (answer → agent holds it) | ${ms(f.actingMs)} |`,
    `| API reads (lists first page, objects) | ${ms(f.apiMs)} |`,
    `| heartbeat | ${ms(f.heartbeatMs)} |`,
    `| status report | ${ms(f.reportMs)} |`,
    `| pool scale (burst) | ${ms(f.burstScaleMs)} |`,
    `mutations/s (burst, closed loop): ${f.mutationsPerSec.toFixed(0)}`,
    `coordinator CPU: ${f.cpuSteadyPct.toFixed(0)}% steady, ${f.cpuBurstPct.toFixed(0)}% burst ` +
      `(100% = one core); RSS peak ${f.rssPeakMib.toFixed(0)} MiB, at end ${f.rssEndMib.toFixed(0)} MiB`,
    ...(f.memoryAtPeak ? [memoryLine(f.memoryAtPeak, f.heapUsedPeakMib ?? 0)] : []),
    `agents: ${c.documents} documents, ${c.reports} status reports (${c.reportErrors} failed), ` +
      `${c.heartbeats} heartbeats (${c.heartbeatErrors} failed, ${c.recovered} recovered a lost node), ` +
      `${c.watchErrors} watch errors; ${f.unseen} changes not seen by an agent 5 s after the stream ` +
      `(${f.lost} never), ${f.differing} instances' documents differing from the store after ` +
      `${f.settleSecs.toFixed(1)} s of settling`,
    `heartbeat reports: ${f.reports ?? 'whole every beat'}; ` +
      `${(c.samplesSent / Math.max(1, c.heartbeatsSent)).toFixed(1)} samples sent per heartbeat, ` +
      `${c.fullReportsAsked} whole reports asked for, ${c.heartbeatsSkipped} beats skipped (last one unanswered)`,
    ...(percentile(f.heartbeatMs, 99) > 30_000
      ? [
          'heartbeat p99 over 30 s: with the default node-lost-after (30 s) nodes would have been declared lost (this run: 600 s)',
        ]
      : []),
  ].join('\n');
}

function memoryLine(m: MemorySplit, heapUsedPeak: number): string {
  const mib = (v: number) => `${v.toFixed(0)} MiB`;
  return (
    `at the RSS peak: heap ${mib(m.heapUsed)} used of ${mib(m.heapTotal)}, external ` +
    `${mib(m.external)} (array buffers ${mib(m.arrayBuffers)}); heap used peak ${mib(heapUsedPeak)}`
  );
}

/** The goals (stated for Postgres at 100k instances), each met or not met. */
export function goalLines(f: SimFigures): string[] {
  const scale = percentile(f.scaleMs, 50);
  const acting = percentile(f.actingMs, 50);
  const line = (goal: string, got: string, met: boolean) =>
    `goal ${goal}: ${got} — ${met ? 'met' : 'not met'}`;
  return [
    `goals (issue 17, stated for Postgres at 100k instances; this run: ${f.store}, ${f.instances}):`,
    line('pool scale p50 ≤ 10 ms', `${scale.toFixed(1)} ms`, scale <= 10),
    line('≥ 500 mutations/s', f.mutationsPerSec.toFixed(0), f.mutationsPerSec >= 500),
    line('agent acting on a scale p50 ≤ 20 ms', `${acting.toFixed(1)} ms`, acting <= 20),
  ];
}
