import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/open-store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { errorCode } from './api-client-harness.ts';
import { expectNoValues, secretsWorld, storeAtRest } from './secrets-harness.ts';

type Json = Record<string, unknown>;

const SECRET_A = 'sk-live-4f9a1c7e2b8d03a6-tenant';
const SECRET_B = 'pool-only-7d2e9b1a5c3f8046';
const SECRET_C = 'rotated-value-0b6e4a2d9c7f1358';

const message = (body: unknown) =>
  String((body as { error?: { message?: string } }).error?.message);

await describeEachDatabase('tenant secrets', ({ store, url }) => {
  it('sets, lists, rotates and unsets by name, and no answer, event or log holds a value', async () => {
    const w = await secretsWorld(store());
    const set = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { values: { API_KEY: SECRET_A, DB_URL: 'postgres://u:p@db/x' } },
    });
    expect(set.status).toBe(200);
    expect((set.body as { secrets: Json[] }).secrets).toEqual([
      expect.objectContaining({ name: 'API_KEY', scope: 'tenant', pool: null, version: 1 }),
      expect.objectContaining({ name: 'DB_URL', scope: 'tenant', pool: null, version: 1 }),
    ]);
    const pool = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { pool: 'web', values: { API_KEY: SECRET_B } },
    });
    expect(pool.status).toBe(200);
    // Setting a value it already has changes nothing: same version, no event.
    const again = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { values: { API_KEY: SECRET_A } },
    });
    expect((again.body as { secrets: Json[] }).secrets[0]).toMatchObject({ version: 1 });

    const rotated = await w.api.call('POST', '/tenants/acme/secrets/rotate', {
      body: { values: { API_KEY: SECRET_C } },
    });
    expect((rotated.body as { secrets: Json[] }).secrets[0]).toMatchObject({ version: 2 });
    const same = await w.api.call('POST', '/tenants/acme/secrets/rotate', {
      body: { values: { API_KEY: SECRET_C } },
    });
    expect([same.status, message(same.body)]).toEqual([
      400,
      'the new value of secret API_KEY equals its current one; a rotation needs a new value',
    ]);
    const unknown = await w.api.call('POST', '/tenants/acme/secrets/rotate', {
      body: { values: { NOPE: SECRET_A, API_KEY: SECRET_B } },
    });
    expect([unknown.status, errorCode(unknown)]).toEqual([404, 'not_found']);
    expect(message(unknown.body)).toContain('NOPE not set for tenant');

    const list = await w.api.call('GET', '/tenants/acme/secrets');
    expect((list.body as Json[]).map((s) => [s.name, s.scope, s.pool, s.version])).toEqual([
      ['API_KEY', 'tenant', null, 2],
      ['DB_URL', 'tenant', null, 1],
      ['API_KEY', 'pool', 'web', 1],
    ]);
    const narrowed = await w.api.call('GET', '/tenants/acme/secrets?pool=gw');
    expect((narrowed.body as Json[]).map((s) => s.name)).toEqual(['API_KEY', 'DB_URL']);

    const unset = await w.api.call('POST', '/tenants/acme/secrets/unset', {
      body: { names: ['DB_URL', 'GHOST'] },
    });
    expect(unset.body).toEqual({ removed: ['DB_URL'], missing: ['GHOST'] });

    const events = (await w.api.call('GET', '/events?tenant=acme&last=100')).body as Json[];
    const actions = events.filter((e) => String(e.action).startsWith('secret.'));
    expect(actions.map((e) => [e.action, e.target, e.detail]).reverse()).toEqual([
      ['secret.set', 'acme', { versions: { API_KEY: 1, DB_URL: 1 } }],
      ['secret.set', 'acme/web', { versions: { API_KEY: 1 } }],
      ['secret.rotate', 'acme', { versions: { API_KEY: 2 } }],
      ['secret.unset', 'acme', { names: ['DB_URL'] }],
    ]);
    const pools = await w.api.call('GET', '/tenants/acme/pools');
    const instances = await w.api.call('GET', '/instances?tenant=acme');
    const desired = await w.api.call('GET', '/nodes/n1/desired');
    expectNoValues(
      [SECRET_A, SECRET_B, SECRET_C, 'postgres://u:p@db/x'],
      set.body,
      pool.body,
      rotated.body,
      same.body,
      unknown.body,
      list.body,
      events,
      pools.body,
      instances.body,
      desired.body,
      w.logs,
    );
  });

  it('delivers values only to a node that runs the pool, the pool value over the tenant one', async () => {
    const w = await secretsWorld(store());
    await w.api.call('POST', '/tenants/acme/secrets', {
      body: { values: { API_KEY: SECRET_A, SHARED: 'tenant-wide' } },
    });
    await w.api.call('POST', '/tenants/acme/secrets', {
      body: { pool: 'web', values: { API_KEY: SECRET_B } },
    });
    await w.api.call('POST', '/tenants/rival/secrets', {
      body: { values: { API_KEY: 'rival-1' } },
    });

    const n1 = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
    expect(n1.status).toBe(200);
    expect(n1.body).toMatchObject({
      tenant: 'acme',
      pool: 'web',
      values: { API_KEY: SECRET_B, SHARED: 'tenant-wide' },
    });
    const digest = (n1.body as Json).digest;
    expect(digest).toMatch(/^[0-9a-f]{64}$/);

    // n2 runs nothing; n1 runs no instance of acme/gw: both are told the secrets do not exist.
    for (const path of ['/nodes/n2/secrets/acme/web', '/nodes/n1/secrets/acme/gw']) {
      const refused = await w.api.call('GET', path);
      expect([path, refused.status]).toEqual([path, 404]);
      expectNoValues([SECRET_A, SECRET_B], refused.body);
    }
    // A tenant token is no node, even for its own tenant's pool.
    const asTenant = await w.api.call('GET', '/nodes/n1/secrets/acme/web', { token: w.acmeToken });
    expect(asTenant.status).toBe(403);

    // The document names the digest, never a value, and moves when a secret does.
    const document = async () => {
      const answer = await w.api.call('GET', '/nodes/n1/desired');
      return JSON.parse(String((answer.body as Json).payload)) as {
        generation: number;
        tenants: Array<{ id: string; pools: Array<{ id: string; secretsDigest: string | null }> }>;
      };
    };
    const before = await document();
    const web = before.tenants.find((t) => t.id === 'acme')?.pools.find((p) => p.id === 'web');
    expect(web?.secretsDigest).toBe(digest);
    await w.api.call('POST', '/tenants/acme/secrets/rotate', {
      body: { values: { SHARED: 'tenant-wide-2' } },
    });
    const after = await document();
    expect(after.generation).toBe(before.generation + 1);
    const moved = after.tenants.find((t) => t.id === 'acme')?.pools.find((p) => p.id === 'web');
    expect(moved?.secretsDigest).not.toBe(digest);
    expectNoValues([SECRET_A, SECRET_B, 'tenant-wide', 'rival-1'], before, after);
  });

  it("answers another tenant's token with 404 and a builder pool's secrets with 400", async () => {
    const w = await secretsWorld(store());
    const asAcme = { token: w.acmeToken };
    const own = await w.api.call('POST', '/tenants/acme/secrets', {
      ...asAcme,
      body: { values: { TOKEN: SECRET_A } },
    });
    expect(own.status).toBe(200);
    for (const [method, path, body] of [
      ['GET', '/tenants/rival/secrets', undefined],
      ['POST', '/tenants/rival/secrets', { values: { TOKEN: SECRET_B } }],
      ['POST', '/tenants/rival/secrets/rotate', { values: { TOKEN: SECRET_B } }],
      ['POST', '/tenants/rival/secrets/unset', { names: ['TOKEN'] }],
    ] as const) {
      const answer = await w.api.call(method, path, { ...asAcme, ...(body ? { body } : {}) });
      expect([path, answer.status]).toEqual([path, 404]);
    }
    const builder = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { pool: 'build', values: { TOKEN: SECRET_B } },
    });
    expect([builder.status, message(builder.body)]).toEqual([
      400,
      "pool 'acme/build' is a builder pool: its instances have no secrets drive, so it takes no secrets",
    ]);
    const ghost = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { pool: 'nope', values: { TOKEN: SECRET_B } },
    });
    expect(ghost.status).toBe(404);
    const rival = await w.api.call('GET', '/tenants/rival/secrets');
    expect(rival.body).toEqual([]);
  });

  it("refuses a builder instance's node the tenant's secrets (403, no value in the answer)", async () => {
    const w = await secretsWorld(store());
    await w.api.call('POST', '/tenants/acme/secrets', { body: { values: { API_KEY: SECRET_A } } });
    await w.api.call('POST', '/tenants/acme/pools/build/scale', { body: { running: 1 } });
    await w.api.call('POST', '/scheduler/run');
    const placed = (await w.api.call('GET', '/instances?tenant=acme&pool=build')).body as Json[];
    const node = String(placed[0]?.nodeId);
    expect(['n1', 'n2']).toContain(node);
    const web = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
    expect(web.body).toMatchObject({ values: { API_KEY: SECRET_A } });
    const builder = await w.api.call('GET', `/nodes/${node}/secrets/acme/build`);
    expect([builder.status, message(builder.body)]).toEqual([
      403,
      "pool 'acme/build' is a builder pool: its instances get no secrets drive, so no node is given its secrets",
    ]);
    expectNoValues([SECRET_A], builder.body);
  });

  it('bounds names, values and what a tenant holds, and a refused request changes nothing', async () => {
    const w = await secretsWorld(store());
    const bad = [
      { values: { '1ST': 'x' } },
      { values: { 'has-dash': 'x' } },
      { values: { OK: 'a\u0000b' } },
      JSON.parse('{"values":{"__proto__":"x"}}') as unknown,
      { values: { OK: 'x'.repeat(64 * 1024 + 1) } },
      { values: { OK: 'é'.repeat(32 * 1024 + 1) } },
      { values: {} },
    ];
    for (const body of bad) {
      const answer = await w.api.call('POST', '/tenants/acme/secrets', { body });
      expect(answer.status).toBe(400);
      expect(message(answer.body)).not.toContain('x'.repeat(100));
    }
    const big = 'v'.repeat(60 * 1024);
    const values = (from: number) =>
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`K${from + i}`, big]));
    expect(
      (await w.api.call('POST', '/tenants/acme/secrets', { body: { values: values(0) } })).status,
    ).toBe(200);
    const over = await w.api.call('POST', '/tenants/acme/secrets', {
      body: { values: values(16) },
    });
    expect([over.status, errorCode(over)]).toEqual([422, 'quota_exceeded']);
    expect(message(over.body)).toContain('bytes of secret values, over the limit of 1048576');
    const list = (await w.api.call('GET', '/tenants/acme/secrets')).body as Json[];
    expect(list).toHaveLength(16);
  });

  it('stores only ciphertext: the plaintext is nowhere in the database at rest', async () => {
    const w = await secretsWorld(store());
    await w.api.call('POST', '/tenants/acme/secrets', { body: { values: { API_KEY: SECRET_A } } });
    await w.api.call('POST', '/tenants/acme/secrets', {
      body: { pool: 'web', values: { API_KEY: SECRET_B } },
    });
    await w.api.call('POST', '/tenants/acme/secrets/rotate', {
      body: { values: { API_KEY: SECRET_C } },
    });
    // The values are there, sealed: a node running the pool still gets them.
    const n1 = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
    expect((n1.body as Json).values).toEqual({ API_KEY: SECRET_B });
    const atRest = await storeAtRest(url());
    expect(atRest).toContain('API_KEY');
    for (const value of [SECRET_A, SECRET_B, SECRET_C]) {
      expect(atRest).not.toContain(value);
      expect(atRest).not.toContain(Buffer.from(value).toString('base64'));
    }
  });

  it('refuses to open a tampered or moved ciphertext, naming the secret and never a value', async () => {
    const w = await secretsWorld(store());
    await w.api.call('POST', '/tenants/acme/secrets', {
      body: { values: { API_KEY: SECRET_A, OTHER: SECRET_B } },
    });
    const { db } = openDatabase(url());
    try {
      const row = await db
        .selectFrom('secrets')
        .select(['ciphertext'])
        .where('name', '=', 'API_KEY')
        .executeTakeFirstOrThrow();
      const bytes = Buffer.from(row.ciphertext, 'base64');
      bytes[0] = (bytes[0] ?? 0) ^ 0x01;
      await db
        .updateTable('secrets')
        .set({ ciphertext: bytes.toString('base64') })
        .where('name', '=', 'API_KEY')
        .execute();
      const tampered = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
      expect(tampered.status).toBe(500);
      expect(message(tampered.body)).toMatch(
        /^secret API_KEY of tenant 'acme' \(version 1\) fails its integrity check under master key [0-9a-f]{16}: its stored ciphertext was altered or moved; set it again$/,
      );
      // OTHER's sealed value pasted onto API_KEY's row fails too: the tag binds its place.
      await db
        .updateTable('secrets')
        .set({
          ciphertext: sql`(select s.ciphertext from secrets s where s.name = 'OTHER')`,
          nonce: sql`(select s.nonce from secrets s where s.name = 'OTHER')`,
        })
        .where('name', '=', 'API_KEY')
        .execute();
      const moved = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
      expect([moved.status, message(moved.body)]).toEqual([500, message(tampered.body)]);
      expectNoValues([SECRET_A, SECRET_B], tampered.body, moved.body, w.logs);
      // Setting it again heals it.
      await w.api.call('POST', '/tenants/acme/secrets/unset', { body: { names: ['API_KEY'] } });
      await w.api.call('POST', '/tenants/acme/secrets', {
        body: { values: { API_KEY: SECRET_C } },
      });
      const healed = await w.api.call('GET', '/nodes/n1/secrets/acme/web');
      expect((healed.body as Json).values).toEqual({ API_KEY: SECRET_C, OTHER: SECRET_B });
    } finally {
      await db.destroy();
    }
  });

  it('goes with its pool and its tenant', async () => {
    const w = await secretsWorld(store());
    await w.api.call('POST', '/tenants/acme/secrets', { body: { values: { A: '1' } } });
    await w.api.call('POST', '/tenants/acme/secrets', { body: { pool: 'gw', values: { B: '2' } } });
    const gone = await w.api.call('DELETE', '/tenants/acme/pools/gw?force=true');
    expect(gone.status).toBe(200);
    const left = (await w.api.call('GET', '/tenants/acme/secrets')).body as Json[];
    expect(left.map((s) => [s.name, s.pool])).toEqual([['A', null]]);
    expect((await w.api.call('DELETE', '/tenants/acme?force=true')).status).toBe(200);
    expect(await store().secrets.list('acme')).toEqual([]);
  });
});
