import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { AdminTokenHome } from '../../src/coordinator/admin-token.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { hashToken } from '../../src/coordinator/services/token-service.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN, apiOver, errorCode, type Api, type ApiResponse } from './api-client-harness.ts';
import { ManualClock, START } from './node-health-harness.ts';

type Json = Record<string, unknown>;

/** Every log line the app writes, to prove no secret is ever among them. */
function capturingLogger(lines: string[]): Logger {
  const keep = (obj: object, msg?: string) => lines.push(JSON.stringify({ obj, msg }));
  return { debug: keep, info: keep, warn: keep, error: keep };
}

interface World {
  api: Api;
  clock: ManualClock;
  logs: string[];
  /** Every secret issued, to look for in everything observable. */
  secrets: string[];
  issue(tenant: string, body: Json): Promise<ApiResponse & { body: Json }>;
}

async function world(
  store: Store,
  extra: { adminTokenHome?: AdminTokenHome } = {},
): Promise<World> {
  const clock = new ManualClock(START);
  const logs: string[] = [];
  const api = await apiOver(store, {
    clock,
    logger: capturingLogger(logs),
    ...(extra.adminTokenHome !== undefined ? { adminTokenHome: extra.adminTokenHome } : {}),
  });
  const secrets = [ADMIN];
  for (const id of ['acme', 'rival']) {
    expect((await api.call('POST', '/tenants', { body: { id } })).status).toBe(201);
  }
  const issue = async (tenant: string, body: Json) => {
    const answer = await api.call('POST', `/tenants/${tenant}/tokens`, { body });
    const token = (answer.body as Json).token;
    if (typeof token === 'string') secrets.push(token);
    return answer as ApiResponse & { body: Json };
  };
  return { api, clock, logs, secrets, issue };
}

/** Nothing observable (lists, audit, logs, an error) carries a secret or its hash. */
function expectNoSecrets(w: World, ...observed: unknown[]): void {
  const text = JSON.stringify([observed, w.logs]);
  for (const secret of w.secrets) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(hashToken(secret));
  }
}

const messageOf = (answer: ApiResponse) =>
  String((answer.body as { error?: { message?: string } }).error?.message);

const dirs: string[] = [];

await describeEachDatabase('API tokens', ({ store }) => {
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('lists every token to the admin with ids, names, expiry and last use, never a secret', async () => {
    const w = await world(store());
    const ci = await w.issue('acme', { name: 'ci', expiresInSeconds: 3600 });
    expect(ci.status).toBe(201);
    expect(ci.body).toMatchObject({
      scope: 'tenant',
      tenantId: 'acme',
      name: 'ci',
      state: 'active',
      expiresAt: new Date(START + 3_600_000).toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await w.issue('rival', { name: 'deploy' });
    const all = await w.api.call('GET', '/tokens');
    expect(all.status).toBe(200);
    const rows = all.body as Json[];
    expect(rows.map((t) => [t.scope, t.tenantId, t.name]).sort()).toEqual([
      ['admin', null, 'admin'],
      ['tenant', 'acme', 'ci'],
      ['tenant', 'rival', 'deploy'],
    ]);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        [
          'createdAt',
          'expiresAt',
          'id',
          'lastUsedAt',
          'name',
          'revokedAt',
          'scope',
          'state',
          'tenantId',
        ].sort(),
      );
    }
    const rival = (await w.api.call('GET', '/tokens?tenant=rival')).body as Json[];
    expect(rival.map((t) => t.name)).toEqual(['deploy']);
    const events = await w.api.call('GET', '/events?last=100');
    expectNoSecrets(w, all.body, events.body);
  });

  it('ends a revoked token with its next request, and says so in the audit log only by id', async () => {
    const w = await world(store());
    const ci = await w.issue('acme', { name: 'ci' });
    const secret = String(ci.body.token);
    expect((await w.api.call('GET', '/tenants/acme', { token: secret })).status).toBe(200);
    const revoked = await w.api.call('POST', `/tokens/${String(ci.body.id)}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: ci.body.id, state: 'revoked' });
    const refused = await w.api.call('GET', '/tenants/acme', { token: secret });
    expect(refused.status).toBe(401);
    // Revoking again changes nothing and keeps the first time.
    const again = await w.api.call('POST', `/tokens/${String(ci.body.id)}/revoke`);
    expect(again.body).toEqual(revoked.body);
    const missing = await w.api.call('POST', '/tokens/no-such-token/revoke');
    expect(missing.status).toBe(404);
    const events = (await w.api.call('GET', '/events?last=100')).body as Json[];
    expect(events.filter((e) => e.action === 'token.revoke')).toEqual([
      expect.objectContaining({ target: ci.body.id, tenantId: 'acme', actor: 'admin:admin' }),
    ]);
    expectNoSecrets(w, events, refused.body, missing.body);
  });

  it("lets a tenant token list and revoke its own tenant's tokens, and nobody else's", async () => {
    const w = await world(store());
    const own = await w.issue('acme', { name: 'ci' });
    const spare = await w.issue('acme', { name: 'spare' });
    const rival = await w.issue('rival', { name: 'deploy' });
    const token = String(own.body.token);
    const as = (method: string, path: string) => w.api.call(method, path, { token });

    const listed = await as('GET', '/tenants/acme/tokens');
    expect(listed.status).toBe(200);
    expect((listed.body as Json[]).map((t) => t.name).sort()).toEqual(['ci', 'spare']);

    // Another tenant's tokens answer exactly as a tenant that does not exist.
    const foreignList = await as('GET', '/tenants/rival/tokens');
    const ghostList = await as('GET', '/tenants/ghost/tokens');
    expect(foreignList.status).toBe(404);
    expect(messageOf(foreignList).replace('rival', 'ghost')).toBe(messageOf(ghostList));
    const foreignRevoke = await as('POST', `/tenants/rival/tokens/${String(rival.body.id)}/revoke`);
    expect(foreignRevoke.status).toBe(404);

    // Through its own tenant's path, another tenant's token id is a token that does not exist.
    const smuggled = await as('POST', `/tenants/acme/tokens/${String(rival.body.id)}/revoke`);
    const ghost = await as('POST', '/tenants/acme/tokens/no-such-token/revoke');
    expect(smuggled.status).toBe(404);
    expect(messageOf(smuggled).replace(String(rival.body.id), 'no-such-token')).toBe(
      messageOf(ghost),
    );
    expect(
      (await w.api.call('GET', '/tenants/rival', { token: String(rival.body.token) })).status,
    ).toBe(200);

    // Its own: gone at once. The admin-wide list and revoke are not for it.
    expect((await as('POST', `/tenants/acme/tokens/${String(spare.body.id)}/revoke`)).status).toBe(
      200,
    );
    const spareToken = String(spare.body.token);
    expect((await w.api.call('GET', '/tenants/acme', { token: spareToken })).status).toBe(401);
    expect((await as('GET', '/tokens')).status).toBe(403);
    expect((await as('POST', `/tokens/${String(rival.body.id)}/revoke`)).status).toBe(403);
    expectNoSecrets(w, listed.body, foreignList.body, smuggled.body);
  });

  it('refuses an expired token with 401 saying so, without echoing it', async () => {
    const w = await world(store());
    const soon = await w.issue('acme', { name: 'short', expiresInSeconds: 600 });
    const dated = await w.issue('acme', {
      name: 'dated',
      expiresAt: new Date(START + 3_600_000).toISOString(),
    });
    expect(dated.body.expiresAt).toBe(new Date(START + 3_600_000).toISOString());
    const soonToken = String(soon.body.token);
    expect((await w.api.call('GET', '/tenants/acme', { token: soonToken })).status).toBe(200);
    w.clock.advance(600_000);
    const expired = await w.api.call('GET', '/tenants/acme', { token: soonToken });
    expect(expired.status).toBe(401);
    expect(errorCode(expired)).toBe('unauthenticated');
    expect(messageOf(expired)).toBe(
      `API token 'short' (id ${String(soon.body.id)}) expired at ${new Date(START + 600_000).toISOString()}; ask for a new one`,
    );
    const datedToken = String(dated.body.token);
    expect((await w.api.call('GET', '/tenants/acme', { token: datedToken })).status).toBe(200);
    w.clock.advance(3_000_000);
    expect((await w.api.call('GET', '/tenants/acme', { token: datedToken })).status).toBe(401);
    const listed = (await w.api.call('GET', '/tenants/acme/tokens')).body as Json[];
    expect(listed.map((t) => t.state)).toEqual(['expired', 'expired']);
    expectNoSecrets(w, expired.body, listed);
  });

  it('refuses bad expiries and names with 400, issuing nothing', async () => {
    const w = await world(store());
    const past = new Date(START - 1000).toISOString();
    for (const body of [
      { name: 'x', expiresAt: past },
      { name: 'x', expiresInSeconds: 600, expiresAt: new Date(START + 3_600_000).toISOString() },
      { name: 'x', expiresInSeconds: 59 },
      { name: 'x', expiresInSeconds: 2 ** 31 },
      { name: 'x', expiresAt: 'tomorrow' },
      { name: 'nul\u0000name' },
      { name: 'ansi\u001b[31m' },
      { name: 'rtl\u202e' },
      { name: 'x'.repeat(101) },
    ]) {
      const answer = await w.api.call('POST', '/tenants/acme/tokens', { body });
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
    }
    expect((await w.api.call('GET', '/tenants/acme/tokens')).body).toEqual([]);
  });

  it('records the last use at most once a minute', async () => {
    const w = await world(store());
    const ci = await w.issue('acme', { name: 'ci' });
    const token = String(ci.body.token);
    const lastUsed = async () => (await store().tokens.get(String(ci.body.id)))?.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    // Count the writes the requests cause: a burst writes once.
    const repo = store().tokens;
    const touch = repo.touch.bind(repo);
    let writes = 0;
    repo.touch = (...args) => ((writes += 1), touch(...args));
    await Promise.all(
      Array.from({ length: 10 }, () => w.api.call('GET', '/tenants/acme', { token })),
    );
    expect(await lastUsed()).toBe(new Date(START).toISOString());
    expect(writes).toBe(1);
    w.clock.advance(60_000);
    await w.api.call('GET', '/tenants/acme', { token });
    expect(await lastUsed()).toBe(new Date(START).toISOString());
    w.clock.advance(1);
    await w.api.call('GET', '/tenants/acme', { token });
    expect(await lastUsed()).toBe(new Date(START + 60_001).toISOString());
    expect(writes).toBe(2);
    const listed = (await w.api.call('GET', '/tenants/acme/tokens')).body as Json[];
    expect(listed[0]?.lastUsedAt).toBe(new Date(START + 60_001).toISOString());
    // The admin token's use shows too: it listed them just now.
    const admin = ((await w.api.call('GET', '/tokens')).body as Json[]).find(
      (t) => t.scope === 'admin',
    );
    expect(admin?.lastUsedAt).toBe(new Date(START + 60_001).toISOString());
  });

  it('rotates the admin token: the new one is written 0600 and works, the old one is dead', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-rotate-'));
    dirs.push(dir);
    const file = join(dir, 'admin.token');
    const w = await world(store(), { adminTokenHome: { kind: 'file', path: file } });
    const before = ((await w.api.call('GET', '/tokens')).body as Json[]).find(
      (t) => t.scope === 'admin',
    );
    const rotated = await w.api.call('POST', '/admin-token/rotate');
    expect(rotated.status).toBe(201);
    const body = rotated.body as Json;
    const secret = String(body.token);
    w.secrets.push(secret);
    expect(body).toMatchObject({ scope: 'admin', state: 'active', revoked: [before?.id] });
    expect((await readFile(file, 'utf8')).trim()).toBe(secret);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await w.api.call('GET', '/tenants')).status).toBe(401);
    expect((await w.api.call('GET', '/tenants', { token: secret })).status).toBe(200);
    const tokens = (await w.api.call('GET', '/tokens', { token: secret })).body as Json[];
    expect(tokens.filter((t) => t.scope === 'admin').map((t) => t.state)).toEqual(
      before !== undefined && String(before.id) < String(body.id)
        ? ['revoked', 'active']
        : ['active', 'revoked'],
    );
    const events = (await w.api.call('GET', '/events?last=100', { token: secret })).body as Json[];
    expect(events.find((e) => e.action === 'token.admin.rotate')).toMatchObject({
      actor: 'admin:admin',
      target: body.id,
    });
    expectNoSecrets(w, tokens, events);
  });

  it('refuses to rotate an admin token that comes from the configuration', async () => {
    const w = await world(store(), { adminTokenHome: { kind: 'configured' } });
    const refused = await w.api.call('POST', '/admin-token/rotate');
    expect(refused.status).toBe(409);
    expect(messageOf(refused)).toContain('MVM_ADMIN_TOKEN');
    expect((await w.api.call('GET', '/tenants')).status).toBe(200);
  });
});
