import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolView } from '../../src/contract/resources.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

let coordinator: InProcessCoordinator;
const { mvm, ok } = cliLines(() => coordinator);

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  await ok('mvm tenant create qa --net-id 44');
  await ok('mvm pool create qa/ci --cpus 1 --mem 256 --idle-warm-after 30 --idle-sleep-after 300');
});
afterAll(async () => {
  await coordinator.close();
});

describe('mvm pool autoscale --queue', () => {
  it('makes a pool queue-driven and back', async () => {
    const text = await ok('mvm pool autoscale qa/ci --queue --min 0 --max 4');
    expect(text).toContain("pool 'qa/ci' is queue-driven: 0 to 4 workers awake");
    expect(text).toContain('go warm after 30 s and sleep after 300 s');
    const pool = JSON.parse(await ok('mvm pool info qa/ci --json')) as PoolView;
    expect(pool.queueScale).toEqual({ min: 0, max: 4 });
    expect(await ok('mvm pool info qa/ci')).toMatch(
      /queue autoscale:\s+by the job queue, 0 to 4 workers awake; added workers go after 600 s/,
    );
    const off = JSON.parse(await ok('mvm pool autoscale qa/ci --off --json')) as PoolView;
    expect(off.queueScale).toBeNull();
  });

  it('takes the shrink bound per pool, shows it, and falls back to 600 s without it', async () => {
    const text = await ok('mvm pool autoscale qa/ci --queue --max 2 --shrink-after 120');
    expect(text).toContain('workers the queue added go after 120 s of empty queue');
    const pool = JSON.parse(await ok('mvm pool info qa/ci --json')) as PoolView;
    expect(pool.queueScale).toEqual({ min: 0, max: 2, shrinkAfterSecs: 120 });
    expect(await ok('mvm pool info qa/ci')).toMatch(/added workers go after 120 s/);
    // Set again without it: back to the coordinator's default.
    await ok('mvm pool autoscale qa/ci --queue --max 2');
    const again = JSON.parse(await ok('mvm pool info qa/ci --json')) as PoolView;
    expect(again.queueScale).toEqual({ min: 0, max: 2 });
    await ok('mvm pool autoscale qa/ci --off');
  });

  it.each([
    ['mvm pool autoscale qa/ci --queue --max 2 --shrink-after 90000', 'out of range; use 0-86400'],
    ['mvm pool autoscale qa/ci --queue --max 2 --shrink-after -1', 'shrink-after'],
    ['mvm pool autoscale qa/ci --queue --min 5 --max 2', '--min (5) must not be more than --max'],
    ['mvm pool autoscale qa/ci --queue --max 5000', '--max must be a whole number from 0 to 1000'],
    ['mvm pool autoscale qa/ci --min 1 --max 2', 'pass --queue and --max N'],
    ['mvm pool autoscale qa/nope --queue --max 2', 'qa/nope'],
  ])('refuses %s and changes nothing', async (line, message) => {
    const run = await mvm(line);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
    const pool = JSON.parse(await ok('mvm pool info qa/ci --json')) as PoolView;
    expect(pool.queueScale ?? null).toBeNull();
  });
});
