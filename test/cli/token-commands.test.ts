import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedTokenView, TokenView } from '../../src/contract/tokens.ts';
import { cliLines } from './support/cli-lines.ts';
import { startInProcessCoordinator } from './support/in-process-coordinator.ts';
import type { InProcessCoordinator } from './support/in-process-coordinator.ts';

/** The token commands against a real coordinator app on SQLite, as an operator types them. */
let coordinator: InProcessCoordinator;
const { mvm, ok, json } = cliLines(() => coordinator);

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  for (const tenant of ['acme', 'rival']) await ok(`mvm tenant create ${tenant}`);
});
afterAll(async () => {
  await coordinator.close();
});

describe('token commands', () => {
  it('issues with an expiry, lists without secrets, and revokes', async () => {
    const before = Date.now();
    const issued = await json<IssuedTokenView>(
      'mvm tenant token create acme --name ci --expires-in 30d --json',
    );
    const expires = Date.parse(issued.expiresAt ?? '');
    expect(expires - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 5_000);
    expect(expires - before).toBeLessThanOrEqual(30 * 86_400_000 + 5_000);
    const human = await ok(
      'mvm tenant token create acme --name deploy --expires-at 2099-01-31T18:00:00+01:00',
    );
    expect(human).toMatch(/expires:\s+2099-01-31T17:00:00.000Z/);
    expect(human).toContain('it is not shown again');

    // The tenant's own token lists its tenant's tokens: ids and names, never a secret.
    const table = await ok(`mvm tenant token list acme --token ${issued.token}`);
    expect(table).toMatch(/^ID +NAME +SCOPE +STATE +CREATED +EXPIRES +LAST USED +REVOKED$/m);
    expect(table).toContain(issued.id);
    expect(table).toMatch(/ci +tenant acme +active/);
    expect(table).not.toContain(issued.token);
    const foreign = await mvm(`mvm tenant token list rival --token ${issued.token}`);
    expect(foreign.code).toBe(4);
    expect(foreign.stderr).toContain("tenant 'rival' not found");

    const all = await json<TokenView[]>('mvm token list --json');
    expect(all.map((t) => `${t.scope} ${t.name}`).sort()).toEqual([
      'admin admin',
      'tenant ci',
      'tenant deploy',
    ]);
    expect(all.find((t) => t.id === issued.id)?.lastUsedAt).not.toBeNull();
    const denied = await mvm(`mvm token list --token ${issued.token}`);
    expect(denied.code).toBe(3);

    const revoked = await ok(`mvm tenant token revoke acme ${issued.id} --token ${issued.token}`);
    expect(revoked).toMatch(/state:\s+revoked/);
    const dead = await mvm(`mvm tenant info acme --token ${issued.token}`);
    expect(dead.code).toBe(3);
    const deploy = all.find((t) => t.name === 'deploy');
    expect(await ok(`mvm token revoke ${deploy?.id ?? ''}`)).toMatch(/state:\s+revoked/);
    expect((await mvm('mvm token revoke no-such-token')).code).toBe(4);
  });

  it('refuses bad expiries before or at the coordinator, issuing nothing', async () => {
    const before = await json<TokenView[]>('mvm token list --tenant acme --json');
    for (const [line, problem] of [
      ['--expires-in 3x', "--expires-in '3x' is not a duration"],
      ['--expires-at tomorrow', "--expires-at 'tomorrow' is not a time"],
      ['--expires-at 2001-01-01T00:00:00Z', 'is not in the future'],
      ['--expires-in 1h --expires-at 2099-01-01T00:00:00Z', 'not both'],
    ] as const) {
      const run = await mvm(`mvm tenant token create acme --name x ${line}`);
      expect({ line, code: run.code }).toEqual({ line, code: 2 });
      expect(run.stderr).toContain(problem);
    }
    expect(await json<TokenView[]>('mvm token list --tenant acme --json')).toEqual(before);
  });
});
