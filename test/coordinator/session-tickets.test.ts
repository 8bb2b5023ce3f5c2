/**
 * Session tickets through the coordinator's app, on SQLite and Postgres, with a clock the test
 * moves: minted by a token for one instance and one session kind, stored hashed, audited;
 * refused (401) when malformed, unknown, expired, used, for another instance or kind, or when
 * the token that minted it was revoked; a refused ticket for another session is not spent;
 * of concurrent redemptions exactly one wins. The WebSocket use itself is in
 * session-tickets-ws.test.ts.
 */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { UnauthenticatedError } from '../../src/core/errors.ts';
import { SessionTicketService } from '../../src/coordinator/services/session-ticket-service.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { storeSnapshot } from './store-snapshot.ts';
import { apiOver, errorCode, type Api } from './api-client-harness.ts';

const T0 = Date.parse('2026-12-04T12:00:00.000Z');

function movableClock() {
  let now = T0;
  const clock: Clock = { now: () => new Date(now), sleep: async () => {} };
  return { clock, advance: (ms: number) => (now += ms) };
}

interface World {
  api: Api;
  advance(ms: number): void;
  acme: { token: string; tokenId: string; instance: string };
  rival: { token: string; instance: string };
}

async function world(store: Store): Promise<World> {
  const { clock, advance } = movableClock();
  const api = await apiOver(store, { clock });
  const made: Record<string, { token: string; tokenId: string; instance: string }> = {};
  for (const tenant of ['acme', 'rival']) {
    await api.call('POST', '/tenants', { body: { id: tenant } });
    await api.call('POST', `/tenants/${tenant}/pools`, {
      body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 },
    });
    const scaled = await api.call('POST', `/tenants/${tenant}/pools/web/scale`, {
      body: { running: 2 },
    });
    const created = (scaled.body as { created: Array<{ id: string }> }).created;
    const issued = await api.call('POST', `/tenants/${tenant}/tokens`, { body: { name: 'ci' } });
    const { token, id } = issued.body as { token: string; id: string };
    made[tenant] = { token, tokenId: id, instance: created[0]?.id ?? '' };
  }
  const acme = made['acme'] ?? { token: '', tokenId: '', instance: '' };
  const rival = made['rival'] ?? { token: '', tokenId: '', instance: '' };
  return { api, advance, acme, rival };
}

const instancePath = (tenant: string, instance: string) =>
  `/tenants/${tenant}/pools/web/instances/${instance}`;

/** Minted with `token`, or the admin's when none is given. */
async function mint(w: World, token: string | undefined, path: string, session: string) {
  return w.api.call('POST', `${path}/tickets`, {
    body: { session },
    ...(token !== undefined ? { token } : {}),
  });
}

/** A plain request with the ticket: admitted ones reach the route (400: not an upgrade). */
async function present(w: World, path: string, ticket: string, extra: RequestInit = {}) {
  const response = await w.api.request(`${path}?ticket=${encodeURIComponent(ticket)}`, extra);
  const body = (await response.json()) as { error: { code: string; message: string } };
  const admitted = response.status === 400 && /is a WebSocket route/.test(body.error.message);
  return { status: admitted ? 'admitted' : response.status, message: body.error.message };
}

await describeEachDatabase('session tickets', (db) => {
  it('mints a ticket for one instance and kind: hashed in the store, audited without its secret', async () => {
    const w = await world(db.store());
    const path = instancePath('acme', w.acme.instance);
    const minted = await mint(w, w.acme.token, path, 'exec');
    expect(minted.status).toBe(201);
    const view = minted.body as {
      ticket: string;
      session: string;
      expiresAt: string;
      path: string;
    };
    expect(view.ticket).toMatch(/^mvmt_[A-Za-z0-9_-]{43}$/);
    expect(view).toMatchObject({
      session: 'exec',
      expiresAt: new Date(T0 + 30_000).toISOString(),
      path: `/v1${path}/exec`,
    });
    const hash = createHash('sha256').update(view.ticket).digest('hex');
    const stored = await db.store().sessionTickets.findByHash(hash);
    expect(stored).toMatchObject({
      tenantId: 'acme',
      poolId: 'web',
      instanceId: w.acme.instance,
      kind: 'exec',
      scopeTenantId: 'acme',
      tokenId: w.acme.tokenId,
      tokenName: 'ci',
      usedAt: null,
    });
    const events = await db.store().audit.list({ tenantId: 'acme', limit: 10 });
    const event = events.find((e) => e.action === 'instance.ticket');
    expect(event).toMatchObject({
      actor: 'tenant:acme:ci',
      target: `acme/web/${w.acme.instance}`,
      detail: { session: 'exec', ticketId: stored?.id, tokenId: w.acme.tokenId },
    });
    expect(JSON.stringify(events)).not.toContain(view.ticket);
    expect(JSON.stringify(events)).not.toContain(hash);
  });

  it("answers another tenant's instance as a missing one, and a bad kind 400, changing nothing", async () => {
    const w = await world(db.store());
    const before = await storeSnapshot(db.store());
    const rivalPath = instancePath('rival', w.rival.instance);
    const other = await mint(w, w.acme.token, rivalPath, 'exec');
    const missing = await mint(w, w.acme.token, instancePath('acme', 'nosuch'), 'exec');
    expect(other.status).toBe(404);
    expect(missing.status).toBe(404);
    const bad = await mint(w, w.acme.token, instancePath('acme', w.acme.instance), 'pty');
    expect(bad.status).toBe(400);
    expect(errorCode(bad)).toBe('invalid_argument');
    const anonymous = await w.api.call('POST', `${rivalPath}/tickets`, {
      body: { session: 'exec' },
      token: null,
    });
    expect(anonymous.status).toBe(401);
    expect(await storeSnapshot(db.store())).toEqual(before);
  });

  it('opens its own session once; refuses other instances, kinds, used, expired and unknown tickets', async () => {
    const w = await world(db.store());
    const own = instancePath('acme', w.acme.instance);
    const { ticket } = (await mint(w, w.acme.token, own, 'exec')).body as { ticket: string };
    // Bound to its instance and kind: presented elsewhere it is refused, and not spent.
    const sibling = (await w.api.call('GET', '/instances?tenant=acme')).body as Array<{
      id: string;
    }>;
    const otherInstance = sibling.find((i) => i.id !== w.acme.instance)?.id ?? '';
    expect(await present(w, `${instancePath('acme', otherInstance)}/exec`, ticket)).toMatchObject({
      status: 401,
      message: expect.stringMatching(/another session/),
    });
    expect((await present(w, `${own}/logs`, ticket)).status).toBe(401);
    expect(
      (await present(w, `${instancePath('rival', w.rival.instance)}/exec`, ticket)).status,
    ).toBe(401);
    // With a header too it is ambiguous: refused before it is looked at.
    const both = await present(w, `${own}/exec`, ticket, {
      headers: { authorization: `Bearer ${w.acme.token}` },
    });
    expect(both.status).toBe(400);
    expect((await present(w, `${own}/exec`, ticket)).status).toBe('admitted');
    expect(await present(w, `${own}/exec`, ticket)).toMatchObject({
      status: 401,
      message: expect.stringMatching(/already used/),
    });

    const logs = (await mint(w, w.acme.token, own, 'logs')).body as { ticket: string };
    w.advance(30_000);
    expect(await present(w, `${own}/logs`, logs.ticket)).toMatchObject({
      status: 401,
      message: expect.stringMatching(/expired/),
    });
    const unknown = `mvmt_${'A'.repeat(43)}`;
    expect((await present(w, `${own}/exec`, unknown)).status).toBe(401);
    expect((await present(w, `${own}/exec`, '')).status).toBe(401);
    expect((await present(w, `${own}/exec`, 'x'.repeat(64))).status).toBe(401);
  });

  it("an admin ticket acts as the admin; a revoked token's tickets are refused", async () => {
    const w = await world(db.store());
    const own = instancePath('acme', w.acme.instance);
    const admin = (await mint(w, undefined, own, 'logs')).body as {
      ticket: string;
    };
    const adminHash = createHash('sha256').update(admin.ticket).digest('hex');
    expect(await db.store().sessionTickets.findByHash(adminHash)).toMatchObject({
      scopeTenantId: null,
    });
    expect((await present(w, `${own}/logs`, admin.ticket)).status).toBe('admitted');

    const tenant = (await mint(w, w.acme.token, own, 'exec')).body as { ticket: string };
    const revoked = await w.api.call('POST', `/tenants/acme/tokens/${w.acme.tokenId}/revoke`);
    expect(revoked.status).toBe(200);
    expect(await present(w, `${own}/exec`, tenant.ticket)).toMatchObject({
      status: 401,
      message: expect.stringMatching(/revoked/),
    });
  });

  it('lets exactly one of eight concurrent redemptions of a ticket win', async () => {
    const w = await world(db.store());
    const own = instancePath('acme', w.acme.instance);
    const { ticket } = (await mint(w, w.acme.token, own, 'exec')).body as { ticket: string };
    const other = await db.reopen();
    const clock: Clock = { now: () => new Date(T0 + 1000), sleep: async () => {} };
    const deps = (store: Store) => ({
      store,
      clock,
      randomSuffix: () => 'x',
      clusterCidr: '10.240.0.0/12',
    });
    const here = new SessionTicketService(deps(db.store()));
    const there = new SessionTicketService(deps(other));
    const claim = {
      kind: 'exec' as const,
      tenantId: 'acme',
      poolId: 'web',
      instanceId: w.acme.instance,
    };
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? here : there).redeem(ticket, claim)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(7);
    for (const r of lost) expect(r.reason).toBeInstanceOf(UnauthenticatedError);
    expect(won[0]?.value).toMatchObject({
      principal: { kind: 'tenant', tenantId: 'acme', tokenName: 'ci', tokenId: w.acme.tokenId },
    });
  });
});
