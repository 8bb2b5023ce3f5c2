/**
 * Lines up fleet-scale's pool scale samples (`--trace <file>`) with what a coordinator logged
 * meanwhile, and says where each sample's wall time went:
 *   npx tsx bench/support/scale-trace.ts <trace file> <coordinator log> [size]
 * The coordinator's lines are those of a build instrumented for it: `P50LAG {from, ms}` for
 * each stall of its event loop over 3 ms (a preloaded interval timer), and `P50SPAN {k, ...}`
 * for the scale route's request (`req`: start, end), the scale (`scale`: t0 called, t1 in
 * the write, t2 committed, t3 placed), the scheduler's pass (`pass`: p0, p1) and a document
 * computation (`compute`: c0 asked, c1 its pacer turn, c2 issued). Every time is wall-clock
 * milliseconds (`performance.timeOrigin + performance.now()`), comparable across processes.
 * Lines of a kind the log lacks count as absent (the lag probe alone works on any build).
 * The stalls come from `loop-lag-probe.mjs` (preloaded), the spans from a build with
 * `scale-trace-spans.patch` applied (`git apply`, then `bash scripts/build.sh`).
 */
import { readFileSync } from 'node:fs';
import { percentile } from './stats.ts';

interface Sample {
  size: number;
  up: boolean;
  sentAt: number;
  ms: number;
}
interface Lag {
  from: number;
  ms: number;
}
type Span = Record<string, number | string | boolean | null | undefined>;

const [traceFile, logFile, sizeArg] = process.argv.slice(2);
if (!traceFile || !logFile) throw new Error('usage: scale-trace.ts <trace file> <log> [size]');
const samples = lines(traceFile)
  .map((l) => JSON.parse(l) as Sample & { kind: string })
  .filter((s) => s.kind === 'scale' && (sizeArg === undefined || s.size === Number(sizeArg)));
const log = lines(logFile);
const lags = tagged(log, 'P50LAG') as unknown as Lag[];
const spans = tagged(log, 'P50SPAN') as Span[];
const of = (k: string) => spans.filter((s) => s.k === k);
const num = (s: Span, key: string) => Number(s[key]);

/** Milliseconds of [a, b) that fall in [from, to). */
const overlap = (a: number, b: number, from: number, to: number) =>
  Math.max(0, Math.min(b, to) - Math.max(a, from));

interface Row {
  up: boolean;
  client: number;
  /** Sent to the route's middleware starting, and its end to the client's answer. */
  before: number;
  after: number;
  /** In the route: to the scale's call, the transaction, the placement, the rest. */
  toCall: number;
  transaction: number;
  place: number;
  pass: number;
  /** Event-loop stalls over 3 ms within the sample's window, and computations that ran in it. */
  stalled: number;
  computing: number;
  computations: number;
}

const rows: Row[] = [];
for (const s of samples) {
  const end = s.sentAt + s.ms;
  const inside = (span: Span, key: string) => num(span, key) >= s.sentAt && num(span, key) <= end;
  const req = of('req').find((r) => inside(r, 'start'));
  const scale = of('scale').find((r) => inside(r, 't0'));
  const pass = of('pass').find((r) => inside(r, 'p0'));
  const computes = of('compute').filter(
    (c) => overlap(num(c, 'c1'), num(c, 'c2'), s.sentAt, end) > 0,
  );
  rows.push({
    up: s.up,
    client: s.ms,
    before: req ? num(req, 'start') - s.sentAt : NaN,
    after: req ? end - num(req, 'end') : NaN,
    toCall: req && scale ? num(scale, 't0') - num(req, 'start') : NaN,
    transaction: scale ? num(scale, 't2') - num(scale, 't0') : NaN,
    place: scale ? num(scale, 't3') - num(scale, 't2') : NaN,
    pass: pass ? num(pass, 'p1') - num(pass, 'p0') : 0,
    stalled: lags.reduce((t, l) => t + overlap(l.from, l.from + l.ms, s.sentAt, end), 0),
    computing: computes.reduce((t, c) => t + overlap(num(c, 'c1'), num(c, 'c2'), s.sentAt, end), 0),
    computations: computes.length,
  });
}

const fields: Array<keyof Row> = [
  'client',
  'before',
  'toCall',
  'transaction',
  'place',
  'pass',
  'after',
  'stalled',
  'computing',
  'computations',
];
console.log(`| samples | ${fields.join(' | ')} |`);
console.log(`| --- | ${fields.map(() => '---').join(' | ')} |`);
for (const [name, group] of [
  ['up (p50)', rows.filter((r) => r.up)],
  ['down (p50)', rows.filter((r) => !r.up)],
  ['all (p50)', rows],
] as const) {
  const cells = fields.map((f) => {
    const values = group.map((r) => Number(r[f])).filter((v) => !Number.isNaN(v));
    return values.length === 0 ? '-' : percentile(values, 50).toFixed(1);
  });
  console.log(`| ${name} (${group.length}) | ${cells.join(' | ')} |`);
}
if (process.env.P50_ROWS)
  for (const r of rows)
    console.log(fields.map((f) => `${f}=${Number(r[f]).toFixed(1)}`).join(' '), r.up ? 'up' : '');

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

function tagged(log: readonly string[], tag: string): Array<Record<string, unknown>> {
  return log
    .filter((l) => l.startsWith(`${tag} `))
    .map((l) => JSON.parse(l.slice(tag.length + 1)) as Record<string, unknown>);
}
