import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { errorCode } from './api-client-harness.ts';
import { secretsWorld, type SecretsWorld } from './secrets-harness.ts';

type Json = Record<string, unknown>;

interface DocPool {
  id: string;
  config: { version: number; files: Record<string, string> } | null;
}
interface Doc {
  generation: number;
  tenants: Array<{ id: string; egress: boolean; pools: DocPool[] }>;
}

async function documentOf(w: SecretsWorld, node = 'n1'): Promise<Doc> {
  const answer = await w.api.call('GET', `/nodes/${node}/desired`);
  return JSON.parse(String((answer.body as Json).payload)) as Doc;
}

const GATEWAY_JSON = JSON.stringify({ upstream: '10.0.0.1', routes: ['10.240.0.0/12'] }, null, 2);
const message = (body: unknown) =>
  String((body as { error?: { message?: string } }).error?.message);

await describeEachDatabase('pool config and tenant egress', ({ store }) => {
  it('versions config files, one version per change, and puts them in the document', async () => {
    const w = await secretsWorld(store());
    const path = '/tenants/acme/pools/web/config';
    expect((await w.api.call('GET', path)).body).toEqual({
      tenantId: 'acme',
      poolId: 'web',
      version: 0,
      files: {},
      updatedAt: null,
    });
    const first = await documentOf(w);
    const set = await w.api.call('PUT', path, {
      body: { files: { 'gateway.json': GATEWAY_JSON } },
    });
    expect(set.body).toMatchObject({ version: 1, files: { 'gateway.json': GATEWAY_JSON } });
    // The same files again: no new version, no new document.
    const same = await w.api.call('PUT', path, {
      body: { files: { 'gateway.json': GATEWAY_JSON } },
    });
    expect(same.body).toMatchObject({ version: 1 });
    const added = await w.api.call('PUT', path, { body: { files: { MODE: 'edge' } } });
    expect(added.body).toMatchObject({
      version: 2,
      files: { MODE: 'edge', 'gateway.json': GATEWAY_JSON },
    });

    const doc = await documentOf(w);
    // Generations are issued as documents are read: two changes since, one new generation.
    expect(doc.generation).toBe(first.generation + 1);
    const web = doc.tenants.find((t) => t.id === 'acme')?.pools.find((p) => p.id === 'web');
    expect(web?.config).toEqual({
      version: 2,
      files: { MODE: 'edge', 'gateway.json': GATEWAY_JSON },
    });

    const unset = await w.api.call('POST', `${path}/unset`, { body: { names: ['MODE'] } });
    expect(unset.body).toMatchObject({ version: 3, files: { 'gateway.json': GATEWAY_JSON } });
    const stale = await w.api.call('PUT', path, {
      body: { files: { MODE: 'core' }, expectedVersion: 2 },
    });
    expect([stale.status, errorCode(stale)]).toEqual([409, 'conflict']);
    const cleared = await w.api.call('PUT', path, { body: { files: {}, replace: true } });
    expect(cleared.body).toMatchObject({ version: 4, files: {} });
    const events = (await w.api.call('GET', '/events?tenant=acme&last=50')).body as Json[];
    expect(
      events
        .filter((e) => e.action === 'pool.config')
        .map((e) => e.detail)
        .reverse(),
    ).toEqual([
      { version: 1, set: ['gateway.json'] },
      { version: 2, set: ['MODE'] },
      { version: 3, unset: ['MODE'] },
      { version: 4, set: [], replace: true },
    ]);
  });

  it('refuses bad names, oversized files, config on builder pools and other tenants', async () => {
    const w = await secretsWorld(store());
    const put = (pool: string, body: unknown, token?: string) =>
      w.api.call('PUT', `/tenants/acme/pools/${pool}/config`, {
        body,
        ...(token ? { token } : {}),
      });
    for (const files of [
      { '../etc/passwd': 'x' },
      { '.hidden': 'x' },
      { 'a/b': 'x' },
      { 'ok.json': 'a\u0000b' },
      { 'ok.json': 'x'.repeat(256 * 1024 + 1) },
    ]) {
      expect((await put('gw', { files })).status).toBe(400);
    }
    const big = 'y'.repeat(200 * 1024);
    expect((await put('gw', { files: { a: big, b: big } })).status).toBe(200);
    const over = await put('gw', { files: { c: big } });
    expect([over.status, errorCode(over)]).toEqual([422, 'quota_exceeded']);
    const builder = await put('build', { files: { a: '1' } });
    expect([builder.status, message(builder.body)]).toEqual([
      400,
      "pool 'acme/build' is a builder pool: its instances have no config drive, so it takes no config",
    ]);
    const none = await w.api.call('PUT', '/tenants/acme/pools/gw/config', { body: { files: {} } });
    expect(none.status).toBe(400);
    const rival = await w.api.call('GET', '/tenants/rival/pools/app/config', {
      token: w.acmeToken,
    });
    expect(rival.status).toBe(404);
    expect((await w.api.call('GET', '/tenants/acme/pools/gw/config')).body).toMatchObject({
      version: 1,
    });
  });

  it("checks a gateway pool's gateway.json: a file its guests would refuse is refused (400)", async () => {
    const w = await secretsWorld(store());
    const put = (pool: string, text: string) =>
      w.api.call('PUT', `/tenants/acme/pools/${pool}/config`, {
        body: { files: { 'gateway.json': text } },
      });
    const bad = await put('gw', '{"routes":[{"to":"10.1.0.1/16","via":"10.240.3.1"}],"nat":1}');
    expect(bad.status).toBe(400);
    expect(message(bad.body)).toContain("gateway.json of gateway pool 'acme/gw'");
    expect((bad.body as { error: { details: { problems: string[] } } }).error.details).toEqual({
      problems: [
        "gateway.json: unknown key 'nat' (known: routes)",
        'gateway.json: routes[0].to must be an IPv4 CIDR with host bits zero, like 10.1.0.0/16',
      ],
    });
    expect((await put('gw', 'not json')).status).toBe(400);
    expect((await w.api.call('GET', '/tenants/acme/pools/gw/config')).body).toMatchObject({
      version: 0,
    });
    const good = await put('gw', '{"routes":[{"to":"10.1.0.0/16","via":"10.240.3.1"}]}');
    expect(good.body).toMatchObject({ version: 1 });
    // A worker's gateway.json is a file like any other: no gateway reads it.
    expect((await put('web', 'not json')).status).toBe(200);
  });

  it('switches a tenant’s egress: admin only, in the document of every node running it', async () => {
    const w = await secretsWorld(store());
    const before = await documentOf(w);
    expect(before.tenants.find((t) => t.id === 'acme')?.egress).toBe(false);
    const byTenant = await w.api.call('PATCH', '/tenants/acme', {
      token: w.acmeToken,
      body: { egress: true },
    });
    expect(byTenant.status).toBe(403);
    const on = await w.api.call('PATCH', '/tenants/acme', { body: { egress: true } });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ id: 'acme', egress: true, version: 2 });
    const doc = await documentOf(w);
    expect(doc.generation).toBe(before.generation + 1);
    expect(doc.tenants.map((t) => [t.id, t.egress])).toEqual([
      ['acme', true],
      ['rival', false],
    ]);
    const nothing = await w.api.call('PATCH', '/tenants/acme', { body: {} });
    expect([nothing.status, message(nothing.body)]).toEqual([
      400,
      'nothing to change; give quotas, egress or maxRunningJobs',
    ]);
    const off = await w.api.call('PATCH', '/tenants/acme', { body: { egress: false } });
    expect(off.body).toMatchObject({ egress: false });
    expect((await documentOf(w)).tenants.find((t) => t.id === 'acme')?.egress).toBe(false);
    const events = (await w.api.call('GET', '/events?tenant=acme&last=50')).body as Json[];
    expect(events.filter((e) => e.action === 'tenant.update').map((e) => e.detail)).toEqual([
      { egress: false },
      { egress: true },
    ]);
  });
});
