import { describe, expect, it } from 'vitest';
import type { PoolDetailView, PoolView } from '../../src/contract/resources.ts';
import { cliForSuite } from './support/cli-lines.ts';

const { mvm, ok } = cliForSuite();

describe('pool minimum running and warm times on the command line', () => {
  it('sets them on create, shows them in info and changes them on update', async () => {
    await ok('mvm tenant create policy --net-id 42');
    const created = await ok(
      'mvm pool create policy/web --flake . --profile minimal --cpus 1 --mem 256 --min-running-secs 120 --min-warm-secs 30',
    );
    expect(created).toMatch(/min running:\s+120 s/);
    expect(created).toMatch(/min warm:\s+30 s/);

    const info = await ok('mvm pool info policy/web');
    expect(info).toMatch(/min running:\s+120 s/);
    const asJson = JSON.parse(await ok('mvm pool info policy/web --json')) as PoolDetailView;
    expect(asJson).toMatchObject({ minRunningSecs: 120, minWarmSecs: 30 });

    const updated = JSON.parse(
      await ok('mvm pool update policy/web --min-warm-secs 0 --json'),
    ) as PoolView;
    expect(updated).toMatchObject({ minRunningSecs: 120, minWarmSecs: 0 });
  });

  it('defaults both to 0', async () => {
    const pool = JSON.parse(
      await ok(
        'mvm pool create policy/plain --flake . --profile minimal --cpus 1 --mem 256 --json',
      ),
    ) as PoolView;
    expect(pool).toMatchObject({ minRunningSecs: 0, minWarmSecs: 0 });
  });

  it.each([
    ['mvm pool update policy/web --min-running-secs -5', '--min-running-secs'],
    ['mvm pool update policy/web --min-warm-secs 1.5', "--min-warm-secs '1.5'"],
    ['mvm pool update policy/web --min-running-secs 999999999', 'out of range'],
  ])('refuses %s', async (line, message) => {
    const run = await mvm(line);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
