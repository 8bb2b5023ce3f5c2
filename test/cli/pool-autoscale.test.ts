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
    const off = JSON.parse(await ok('mvm pool autoscale qa/ci --off --json')) as PoolView;
    expect(off.queueScale).toBeNull();
  });

  it.each([
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
