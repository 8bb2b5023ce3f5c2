import { describe, expect, it } from 'vitest';
import type { TenantView } from '../../src/contract/resources.ts';
import { cliForSuite } from './support/cli-lines.ts';

/** `mvm tenant create|update --max-running-jobs` against a real coordinator app on SQLite. */
const { ok, fails, json } = cliForSuite();

describe('tenant running-jobs quota flag', () => {
  it('sets, shows, changes and clears it; refuses bad values and changes nothing', async () => {
    const created = await json<TenantView>('mvm tenant create acme --max-running-jobs 3 --json');
    expect(created.maxRunningJobs).toBe(3);
    expect(await ok('mvm tenant info acme')).toMatch(/max running jobs:\s+3/);
    const updated = await json<TenantView>('mvm tenant update acme --max-running-jobs 5 --json');
    expect(updated.maxRunningJobs).toBe(5);
    expect(await fails('mvm tenant update acme --max-running-jobs -1')).toMatch(/whole number/);
    expect(await fails('mvm tenant update acme --max-running-jobs many')).toMatch(/whole number/);
    expect(await fails('mvm tenant update acme --max-running-jobs 100001')).toMatch(/out of range/);
    const same = await json<TenantView>('mvm tenant info acme --json');
    expect(same.maxRunningJobs).toBe(5);
    expect(same.version).toBe(updated.version);
    const cleared = await json<TenantView>('mvm tenant update acme --max-running-jobs none --json');
    expect(cleared.maxRunningJobs).toBeUndefined();
    expect(await ok('mvm tenant info acme')).toMatch(/max running jobs:\s+no limit/);
  });
});
