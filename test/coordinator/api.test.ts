import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, errorCode, type Api } from './api-client-harness.ts';

type Json = Record<string, unknown> & { [key: string]: unknown };

async function smokeSetup(api: Api): Promise<void> {
  const created = await api.call('POST', '/tenants', {
    body: {
      id: 'smoke-test',
      netId: 99,
      subnet: '10.240.99.0/24',
      quotas: { maxVcpus: 8, maxMemMib: 8192, maxRunning: 4 },
    },
  });
  expect(created.status).toBe(201);
  const gw = {
    id: 'gateways',
    flake: '.',
    profile: 'minimal',
    vcpus: 2,
    memMib: 1024,
    role: 'gateway',
  };
  expect((await api.call('POST', '/tenants/smoke-test/pools', { body: gw })).status).toBe(201);
  const wk = { id: 'workers', flake: '.', profile: 'minimal', vcpus: 2, memMib: 1024 };
  expect((await api.call('POST', '/tenants/smoke-test/pools', { body: wk })).status).toBe(201);
}

/** Everything an operator could observe; bad requests must leave it identical. */
async function snapshot(api: Api): Promise<unknown> {
  const tenants = (await api.call('GET', '/tenants')).body as Json[];
  const pools = [];
  for (const t of tenants)
    pools.push((await api.call('GET', `/tenants/${String(t.id)}/pools`)).body);
  const instances = (await api.call('GET', '/instances')).body;
  const events = (await api.call('GET', '/events?last=1000')).body as Json[];
  return { tenants, pools, instances, events: events.length };
}

await describeEachDatabase('coordinator API', (db) => {
  it('runs the smoke-test flow and materializes counts into instances', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    const info = await api.call('GET', '/tenants/smoke-test');
    expect(info.body).toMatchObject({
      netId: 99,
      subnet: '10.240.99.0/24',
      gateway: '10.240.99.1',
      bridge: 'br-tenant-99',
    });
    const scaled = await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 2, warm: 1, sleeping: 1 },
    });
    expect(scaled.status).toBe(200);
    const pool = (await api.call('GET', '/tenants/smoke-test/pools/workers')).body as Json;
    expect(pool).toMatchObject({
      role: 'worker',
      counts: { running: 2, warm: 1, sleeping: 1 },
      instances: 4,
    });
    const instances = (await api.call('GET', '/instances?tenant=smoke-test')).body as Json[];
    expect(instances.map((i) => i.desiredStatus).sort()).toEqual([
      'running',
      'running',
      'sleeping',
      'warm',
    ]);
    expect(instances.map((i) => i.ip).sort()).toEqual([
      '10.240.99.3',
      '10.240.99.4',
      '10.240.99.5',
      '10.240.99.6',
    ]);
    expect(new Set(instances.map((i) => i.mac)).size).toBe(4);
    const usage = ((await api.call('GET', '/tenants/smoke-test')).body as Json).usage;
    expect(usage).toMatchObject({ running: 2, warm: 1, vcpus: 4, memMib: 3072, instances: 4 });
    // Scaling again to the same counts changes nothing.
    const again = (
      await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
        body: { running: 2, warm: 1, sleeping: 1 },
      })
    ).body as Json;
    expect(again.created).toEqual([]);
    expect(again.changed).toEqual([]);
    // Scaling down keeps identities (stopped), scaling up reuses them before creating.
    await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 1, warm: 0, sleeping: 0 },
    });
    const down = (await api.call('GET', '/instances?tenant=smoke-test&pool=workers'))
      .body as Json[];
    expect(down.filter((i) => i.desiredStatus === 'stopped')).toHaveLength(3);
    const up = (
      await api.call('POST', '/tenants/smoke-test/pools/workers/scale', { body: { running: 3 } })
    ).body as Json;
    expect(up.created).toEqual([]);
    const destroyed = await api.call('DELETE', '/tenants/smoke-test?force=true');
    expect(destroyed.body).toEqual({ destroyed: { tenants: 1, pools: 2, instances: 4 } });
    expect((await api.call('GET', '/tenants')).body).toEqual([]);
  });

  it('refuses bad input with a reason and changes nothing', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    await api.call('POST', '/tenants', { body: { id: 'other' } });
    const before = await snapshot(api);
    const cases: Array<
      [string, string, { body?: unknown; raw?: string; token?: string | null }, number, string]
    > = [
      ['POST', '/tenants', { body: { id: 'Bad_Id' } }, 400, 'invalid_argument'],
      ['POST', '/tenants', { body: { id: '-lead' } }, 400, 'invalid_argument'],
      [
        'POST',
        '/tenants',
        { body: { id: 'x', subnet: '192.168.1.0/24' } },
        400,
        'invalid_argument',
      ],
      ['POST', '/tenants', { body: { id: 'x', subnet: '10.240.99.0/24' } }, 409, 'conflict'],
      ['POST', '/tenants', { body: { id: 'x', netId: 99 } }, 409, 'conflict'],
      [
        'POST',
        '/tenants',
        { body: { id: 'x', netId: 5, subnet: '10.240.6.0/24' } },
        400,
        'invalid_argument',
      ],
      ['POST', '/tenants', { body: { id: 'x', netId: 4096 } }, 400, 'invalid_argument'],
      ['POST', '/tenants', { body: { id: 'smoke-test' } }, 409, 'conflict'],
      ['POST', '/tenants', { body: { id: 'x', colour: 'red' } }, 400, 'invalid_argument'],
      ['POST', '/tenants', { raw: '{"id": "x",' }, 400, 'invalid_argument'],
      ['POST', '/tenants', { body: { id: 'x' }, token: 'wrong' }, 401, 'unauthenticated'],
      ['POST', '/tenants', { body: { id: 'x' }, token: null }, 401, 'unauthenticated'],
      [
        'POST',
        '/tenants/smoke-test/pools/workers/scale',
        { body: { running: 5 } },
        422,
        'quota_exceeded',
      ],
      [
        'POST',
        '/tenants/smoke-test/pools/workers/scale',
        { body: { running: -1 } },
        400,
        'invalid_argument',
      ],
      [
        'POST',
        '/tenants/smoke-test/pools/workers/scale',
        { body: { running: 1, extra: 1 } },
        400,
        'invalid_argument',
      ],
      [
        'PATCH',
        '/tenants/smoke-test/pools/workers',
        { body: { role: 'gateway' } },
        400,
        'invalid_argument',
      ],
      [
        'POST',
        '/tenants/smoke-test/pools',
        { body: { id: 'p', flake: '.', profile: 'm', vcpus: 0, memMib: 1 } },
        400,
        'invalid_argument',
      ],
      [
        'POST',
        '/tenants/nope/pools',
        { body: { id: 'p', flake: '.', profile: 'm', vcpus: 1, memMib: 256 } },
        404,
        'not_found',
      ],
      ['DELETE', '/tenants/smoke-test', {}, 409, 'conflict'],
      ['GET', '/instances?tenant=BAD', {}, 400, 'invalid_argument'],
      ['GET', '/nowhere', {}, 404, 'not_found'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const response = await api.call(method, path, options);
      expect({ method, path, status: response.status, code: errorCode(response) }).toEqual({
        method,
        path,
        status,
        code,
      });
      const message = (response.body as { error: { message: string } }).error.message;
      expect(message.length).toBeGreaterThan(10);
    }
    expect(await snapshot(api)).toEqual(before);
  });

  it('keeps tenant tokens inside their tenant (404 outside, 403 for admin-only)', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    await api.call('POST', '/tenants', { body: { id: 'rival' } });
    await api.call('POST', '/tenants/rival/pools', {
      body: { id: 'secret', flake: '.', profile: 'm', vcpus: 1, memMib: 256 },
    });
    const issued = (await api.call('POST', '/tenants/smoke-test/tokens', { body: { name: 'ci' } }))
      .body as Json;
    const token = String(issued.token);
    const listed = (await api.call('GET', '/tenants/smoke-test/tokens')).body as Json[];
    expect(JSON.stringify(listed)).not.toContain(token);
    const as = (method: string, path: string, body?: unknown) =>
      api.call(method, path, { token, body });
    expect(((await as('GET', '/tenants')).body as Json[]).map((t) => t.id)).toEqual(['smoke-test']);
    expect((await as('GET', '/tenants/smoke-test/pools')).status).toBe(200);
    expect(
      (await as('POST', '/tenants/smoke-test/pools/workers/scale', { running: 1 })).status,
    ).toBe(200);
    for (const [method, path, body] of [
      ['GET', '/tenants/rival', undefined],
      ['GET', '/tenants/rival/pools', undefined],
      ['GET', '/tenants/rival/pools/secret', undefined],
      ['POST', '/tenants/rival/pools/secret/scale', { running: 1 }],
      ['DELETE', '/tenants/rival?force=true', undefined],
      ['GET', '/instances?tenant=rival', undefined],
      ['GET', '/events?tenant=rival', undefined],
      ['POST', '/tenants/rival/tokens', { name: 'steal' }],
    ] as const) {
      expect({ path, status: (await as(method, path, body)).status }).toEqual({
        path,
        status: 404,
      });
    }
    expect((await as('GET', '/nodes')).status).toBe(403);
    expect((await as('PATCH', '/tenants/smoke-test', { quotas: { maxRunning: 100 } })).status).toBe(
      403,
    );
    expect((await as('POST', '/tenants', { id: 'mine' })).status).toBe(403);
    const mine = (await as('GET', '/instances')).body as Json[];
    expect(mine.every((i) => i.tenantId === 'smoke-test')).toBe(true);
    // Destroying the tenant revokes its tokens: a re-created tenant of the same name is not reachable.
    await api.call('DELETE', '/tenants/smoke-test?force=true');
    await api.call('POST', '/tenants', { body: { id: 'smoke-test' } });
    expect((await as('GET', '/tenants/smoke-test')).status).toBe(401);
  });

  it('moves instance desired statuses by action, legal ones only', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    const scaled = (
      await api.call('POST', '/tenants/smoke-test/pools/workers/scale', { body: { running: 1 } })
    ).body as { created: Json[] };
    const first = scaled.created[0];
    if (!first) throw new Error('no instance created');
    const path = `/tenants/smoke-test/pools/workers/instances/${String(first.id)}`;
    const act = async (action: string) => api.call('POST', `${path}/actions`, { body: { action } });
    const desired = async () => ((await api.call('GET', path)).body as Json).desiredStatus;
    expect((await act('warm')).status).toBe(200);
    expect(await desired()).toBe('warm');
    expect((await act('sleep')).status).toBe(200);
    expect(await desired()).toBe('sleeping');
    expect((await act('wake')).status).toBe(200);
    expect(await desired()).toBe('running');
    expect((await act('stop')).status).toBe(200);
    const illegal = await act('wake');
    expect([illegal.status, errorCode(illegal)]).toEqual([409, 'illegal_transition']);
    expect((await act('start')).status).toBe(200);
    expect((await act('start')).status).toBe(200); // idempotent
    expect((await act('fly')).status).toBe(400);
    const ip = first.ip;
    expect((await act('destroy')).status).toBe(200);
    expect((await api.call('GET', path)).status).toBe(404);
    // The destroyed instance's address is free again.
    const next = (
      await api.call('POST', '/tenants/smoke-test/pools/workers/scale', { body: { running: 1 } })
    ).body as { created: Json[] };
    expect(next.created[0]?.ip).toBe(ip);
    const events = (await api.call('GET', '/events?tenant=smoke-test&last=3')).body as Json[];
    expect(events).toHaveLength(3);
    expect(events[0]?.action).toBe('pool.scale');
    expect(events[1]?.action).toBe('instance.destroy');
    expect(Number(events[0]?.id)).toBeGreaterThan(Number(events[1]?.id));
  });

  it('checks quotas on start and refuses quota cuts below current intent', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    await api.call('POST', '/tenants/smoke-test/pools/workers/scale', { body: { running: 4 } });
    await api.call('POST', '/tenants/smoke-test/pools/workers/scale', { body: { running: 2 } });
    const cut = await api.call('PATCH', '/tenants/smoke-test', {
      body: { quotas: { maxRunning: 1 } },
    });
    expect([cut.status, errorCode(cut)]).toEqual([422, 'quota_exceeded']);
    const raised = await api.call('PATCH', '/tenants/smoke-test', {
      body: { quotas: { maxRunning: 3, maxVcpus: 6 } },
    });
    expect(raised.status).toBe(200);
    const stopped = ((await api.call('GET', '/instances?tenant=smoke-test')).body as Json[]).filter(
      (i) => i.desiredStatus === 'stopped',
    );
    expect(stopped).toHaveLength(2);
    const [a, b] = stopped;
    const start = (i: Json | undefined) =>
      api.call('POST', `/tenants/smoke-test/pools/workers/instances/${String(i?.id)}/actions`, {
        body: { action: 'start' },
      });
    expect((await start(a)).status).toBe(200);
    const over = await start(b);
    expect([over.status, errorCode(over)]).toEqual([422, 'quota_exceeded']);
  });

  it('rejects a stale compare-and-set', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    const pool = (await api.call('GET', '/tenants/smoke-test/pools/workers')).body as Json;
    const ok = await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 1, expectedVersion: pool.version },
    });
    expect(ok.status).toBe(200);
    const stale = await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 2, expectedVersion: pool.version },
    });
    expect([stale.status, errorCode(stale)]).toEqual([409, 'conflict']);
    expect(
      ((await api.call('GET', '/tenants/smoke-test/pools/workers')).body as Json).counts,
    ).toMatchObject({ running: 1 });
  });

  it('registers and lists nodes', async () => {
    const api = await apiOver(db.store());
    const body = {
      hostname: 'kvm-1',
      arch: 'x86_64',
      capacity: { vcpus: 2, memMib: 24576, diskGib: 100 },
    };
    expect((await api.call('PUT', '/nodes/node-1', { body })).status).toBe(200);
    expect((await api.call('PUT', '/nodes/node-1', { body })).status).toBe(200);
    const nodes = (await api.call('GET', '/nodes')).body as Json[];
    expect(nodes).toHaveLength(1);
    expect((await api.call('GET', '/nodes/node-1')).body).toMatchObject({
      hostname: 'kvm-1',
      status: 'ready',
    });
    expect((await api.call('GET', '/nodes/node-2')).status).toBe(404);
  });

  it('places instances on nodes and takes status reports from the node that runs them', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 2, sleeping: 1 },
    });
    const unplaced = (await api.call('POST', '/scheduler/run')).body as { unplaced: Json[] };
    expect(unplaced.unplaced.map((u) => u.reason)).toContain('no nodes are registered');
    const capacity = { vcpus: 2, memMib: 4096, diskGib: 100 };
    await api.call('PUT', '/nodes/node-a', { body: { hostname: 'a', arch: 'x86_64', capacity } });
    await api.call('PUT', '/nodes/node-b', { body: { hostname: 'b', arch: 'x86_64', capacity } });
    const instances = (await api.call('GET', '/instances?tenant=smoke-test')).body as Json[];
    const running = instances.filter((i) => i.desiredStatus === 'running');
    // One 2-vCPU instance per 2-vCPU node: spread, both placed; the sleeping one holds no CPU.
    expect(new Set(running.map((i) => i.nodeId))).toEqual(new Set(['node-a', 'node-b']));
    expect(instances.every((i) => i.nodeId !== null)).toBe(true);
    const first = running[0] as Json;
    const statusPath = (node: string) =>
      `/nodes/${node}/instances/smoke-test/workers/${String(first.id)}/status`;
    const other = first.nodeId === 'node-a' ? 'node-b' : 'node-a';
    expect((await api.call('PUT', statusPath(other), { body: { status: 'ready' } })).status).toBe(
      409,
    );
    const node = String(first.nodeId);
    expect(
      (await api.call('PUT', statusPath(node), { body: { status: 'ready' } })).body,
    ).toMatchObject({ status: 'ready' });
    const stale = await api.call('PUT', statusPath(node), {
      body: { status: 'running', expectedStatus: 'created' },
    });
    expect([stale.status, errorCode(stale)]).toEqual([409, 'conflict']);
    const failed = await api.call('PUT', statusPath(node), {
      body: { status: 'failed', failureReason: 'guest did not answer' },
    });
    expect(failed.body).toMatchObject({ status: 'failed', failureReason: 'guest did not answer' });
    // A placed instance is destroyed by its agent: the row stays until the agent reports it.
    const path = `/tenants/smoke-test/pools/workers/instances/${String(first.id)}`;
    await api.call('POST', `${path}/actions`, { body: { action: 'destroy' } });
    expect(((await api.call('GET', path)).body as Json).desiredStatus).toBe('destroyed');
    await api.call('PUT', statusPath(node), { body: { status: 'destroyed' } });
    expect((await api.call('GET', path)).status).toBe(404);
  });

  it('keeps everything across a coordinator restart', async () => {
    const api = await apiOver(db.store());
    await smokeSetup(api);
    await api.call('POST', '/tenants/smoke-test/pools/workers/scale', {
      body: { running: 2, warm: 1, sleeping: 1 },
    });
    const before = await snapshot(api);
    await db.store().close();
    const restarted = await apiOver(await db.reopen());
    expect(await snapshot(restarted)).toEqual(before);
  });
});
