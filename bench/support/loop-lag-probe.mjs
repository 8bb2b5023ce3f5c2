/**
 * Preloaded into a coordinator for bench/support/scale-trace.ts:
 *   NODE_OPTIONS="--import $PWD/bench/support/loop-lag-probe.mjs" npx tsx bench/fleet-scale.ts \
 *     100000 postgres --trace /tmp/trace.jsonl --log /tmp/logs
 * (NODE_OPTIONS reaches the coordinator child; only `... serve` runs the timer). Logs each stall
 * of the event loop over 3 ms as `P50LAG {from, ms}` (wall-clock milliseconds) on stderr, and
 * gives a build patched with scale-trace-spans.patch the `__p50` it logs its spans with.
 */
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setInterval } from 'node:timers';

if (process.argv.includes('serve')) {
  const TICK = 2;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const lag = now - last - TICK;
    if (lag > 3)
      process.stderr.write(
        `P50LAG ${JSON.stringify({ from: performance.timeOrigin + last + TICK, ms: lag })}\n`,
      );
    last = now;
  }, TICK).unref();
  globalThis.__p50 = (span) => process.stderr.write(`P50SPAN ${JSON.stringify(span)}\n`);
}
