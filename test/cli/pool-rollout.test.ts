import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutView } from '../../src/contract/rollouts.ts';
import type { PoolDetailView } from '../../src/contract/resources.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

/**
 * `mvm pool rollout` and `mvm pool rollback` on the command line, against an in-process
 * coordinator (the steps themselves: test/coordinator/rollouts.test.ts).
 */
let coordinator: InProcessCoordinator;
const { mvm, ok, fails, json } = cliLines(() => coordinator);

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  await ok('mvm tenant create roll --net-id 43');
  await ok('mvm pool create roll/web --cpus 1 --mem 256');
});
afterAll(async () => {
  await coordinator.close();
});

describe('pool rollout and rollback on the command line', () => {
  it('refuses a revision the pool never built, and a rollout without a revision', async () => {
    const missing = await fails(`mvm pool rollout roll/web --revision ${'a'.repeat(64)}`);
    expect(missing).toMatch(/revision .*not found|not found.*revision/i);
    expect(missing).toContain('mvm pool revisions roll/web');
    expect(await fails('mvm pool rollout roll/web')).toContain('missing --revision');
    const info = await json<PoolDetailView>('mvm pool info roll/web --json');
    expect(info.rollout).toBeNull();
    expect(await fails('mvm pool rollback roll/web')).toContain('no previous revision');
  });

  it('a rollout with nothing to replace is done at once; --wait says so; info shows it', async () => {
    const run = await mvm('mvm pool rollout roll/web --revision dev --wait --json');
    expect(run.code).toBe(0);
    // Progress goes to stderr under --json; stdout holds the answer alone.
    expect(run.stderr).toBe('done 0/0 ready, 0 replacing\n');
    const done = JSON.parse(run.stdout) as RolloutView;
    expect(done).toMatchObject({ state: 'done', from: 'dev', to: 'dev', canary: 1 });
    expect(done.progress).toEqual({ total: 0, ready: 0, replacing: 0 });
    const info = await ok('mvm pool info roll/web');
    expect(info).toMatch(/state:\s+done 0\/0 ready, 0 replacing/);
    expect((await json<PoolDetailView>('mvm pool info roll/web --json')).rollout?.state).toBe(
      'done',
    );
    // It came from where it is: there is no previous revision to go back to.
    expect(await fails('mvm pool rollback roll/web')).toContain('no previous revision');
  });
});
