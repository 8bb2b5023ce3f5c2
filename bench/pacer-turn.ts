/**
 * The pacer's share of a sequential client's change (docs/scale.md, "A lone write's end is
 * its node's turn"): a hot node's watcher waits for the write that changed it; this times
 * from that write's end to the watcher's turn, for a lone write (a client that waits for its
 * answer between writes) and for writes side by side (a burst: the pause of `graceMs` is
 * still waited for). In process, no store: only `WriteActivity` and `RecomputePacer`.
 *   npx tsx bench/pacer-turn.ts [--samples 200]
 */
import { parseArgs } from 'node:util';
import { RecomputePacer } from '../src/coordinator/desired/recompute-pacer.ts';
import { WriteActivity } from '../src/coordinator/desired/write-activity.ts';
import { percentile } from './support/stats.ts';

const { values: flags } = parseArgs({ options: { samples: { type: 'string' } } });
const SAMPLES = Number(flags.samples ?? 200);
const GRACE_MS = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** From the last write's end to a hot node's turn, `writers` writes of ~2 ms side by side. */
async function sample(writers: number): Promise<number> {
  const writes = new WriteActivity();
  const pacer = new RecomputePacer(writes, {
    paceMs: 60_000,
    costFactor: 8,
    graceMs: GRACE_MS,
    maxPaceMs: 60_000,
  });
  (await pacer.turn('n1')).done();
  let endedMs = 0;
  const running = Array.from({ length: writers }, () =>
    writes.run(async () => {
      await sleep(2);
      endedMs = performance.now();
    }),
  );
  const turn = await pacer.turn('n1');
  const turnedMs = performance.now();
  await Promise.all(running);
  turn.done();
  // Apart, so each sample's first write is lone or not by its own doing.
  await sleep(GRACE_MS * 2);
  return turnedMs - endedMs;
}

for (const writers of [1, 2]) {
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) times.push(await sample(writers));
  const label = writers === 1 ? 'a lone write' : 'two writes side by side';
  console.log(
    `${label}: its end to the hot node's turn p50 ${percentile(times, 50).toFixed(2)} ms, p90 ${percentile(times, 90).toFixed(2)} ms (${SAMPLES} samples)`,
  );
}
