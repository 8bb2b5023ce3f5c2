import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolDetailView } from '../../src/contract/resources.ts';
import type { RevisionView } from '../../src/contract/revisions.ts';
import type { RolloutView } from '../../src/contract/rollouts.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

/**
 * `mvm pool rollback --wait` against an in-process coordinator that builds (the dev image, from
 * the shared cache): a pool with no instances moves at once, so the wait ends on the first look.
 * Real guests moving back: test/e2e/rollout-qemu.test.ts.
 */
let coordinator: InProcessCoordinator;
const { mvm, ok, fails, json } = cliLines(() => coordinator);

beforeAll(async () => {
  coordinator = await startInProcessCoordinator({ images: true });
  await ok('mvm tenant create back --net-id 44');
  await ok('mvm pool create back/web --cpus 1 --mem 256');
}, 300_000);
afterAll(async () => {
  await coordinator?.close();
});

describe('pool rollback --wait', () => {
  it('follows the rollback to its end and answers the rolled-back rollout', async () => {
    // Both print their progress on stderr.
    const built = await mvm('mvm pool build back/web --json');
    expect(built.code, built.stderr).toBe(0);
    const revision = JSON.parse(built.stdout) as RevisionView;
    const rolled = await mvm(`mvm pool rollout back/web --revision ${revision.id} --wait`);
    expect(rolled.code, rolled.stderr).toBe(0);
    const run = await mvm('mvm pool rollback back/web --wait --timeout 1m --json');
    expect(run.code, run.stderr).toBe(0);
    // Progress goes to stderr under --json; stdout holds the answer alone.
    expect(run.stderr).toBe('rolled-back 0/0 ready, 0 replacing\n');
    const back = JSON.parse(run.stdout) as RolloutView;
    expect(back).toMatchObject({ state: 'rolled-back', from: 'dev', to: revision.id });
    expect(back.reason).toMatch(/^rolled back by /);
    expect((await json<PoolDetailView>('mvm pool info back/web --json')).revision).toBe('dev');
    // Back where it started: nothing before it, and the refusal changes nothing.
    expect(await fails('mvm pool rollback back/web --wait')).toContain('no previous revision');
    expect(await fails('mvm pool rollback back/web --timeout x')).toMatch(/--timeout/);
    expect((await json<PoolDetailView>('mvm pool info back/web --json')).rollout?.state).toBe(
      'rolled-back',
    );
  }, 300_000);
});
