import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { HttpsFetch, TlsMaterial } from '../../src/agent/join/https-fetch.ts';
import { fillPath, routes, type RouteDef, type Scope } from '../../src/contract/api.ts';
import { requireScope, type Credentials } from '../../src/coordinator/access.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  ADMIN,
  call,
  type Answer,
  startTlsCoordinator,
  type TlsCoordinator,
} from './join-harness.ts';

/**
 * Walks every route of the contract as every kind of caller and checks the answer against
 * the route's declared scope alone. Each request carries an unknown query parameter, so a
 * caller the scope admits gets the validation error (which comes after the scope check) and
 * nothing is ever changed; a caller it refuses gets 401, 403 or 404 before that.
 */
type Caller = 'none' | 'admin' | 'own' | 'other' | 'node';
type Outcome = 'admitted' | 401 | 403 | 404;

const callers: readonly Caller[] = ['none', 'admin', 'own', 'other', 'node'];

/** What each scope promises (contract/api.ts `scopes`), per caller, for acme's paths. */
function expected(def: RouteDef, caller: Caller): Outcome {
  const namesTenant = def.path.includes(':tenant');
  const table: Record<Scope, Record<Caller, Outcome>> = {
    public: {
      none: 'admitted',
      admin: 'admitted',
      own: 'admitted',
      other: 'admitted',
      node: 'admitted',
    },
    admin: { none: 401, admin: 'admitted', own: 403, other: namesTenant ? 404 : 403, node: 401 },
    tenant: { none: 401, admin: 'admitted', own: 'admitted', other: 404, node: 401 },
    'tenant-list': { none: 401, admin: 'admitted', own: 'admitted', other: 404, node: 401 },
    node: { none: 401, admin: 'admitted', own: 403, other: 403, node: 'admitted' },
    'node-certificate': { none: 401, admin: 403, own: 403, other: 403, node: 'admitted' },
  };
  return table[def.scope][caller];
}

interface World {
  coordinator: TlsCoordinator;
  tokens: { own: string; other: string };
  /** The id of acme's token, for the routes that name one. */
  tokenId: string;
  nodeFetch: HttpsFetch;
  nodeTls: TlsMaterial;
  instance: string;
}

let world: World | undefined;

async function ok(c: TlsCoordinator, method: string, path: string, body?: unknown) {
  const answer = await c.admin(method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body as Record<string, unknown>;
}

/** Two tenants with a pool each and a token each, two joined nodes, one placed instance. */
async function build(url: string): Promise<World> {
  const coordinator = await startTlsCoordinator(url);
  const node = await coordinator.join('node-1');
  await coordinator.join('node-2');
  const tokens = { own: '', other: '' };
  let tokenId = '';
  for (const [tenant, pool, who] of [
    ['acme', 'workers', 'own'],
    ['rival', 'secret', 'other'],
  ] as const) {
    await ok(coordinator, 'POST', '/tenants', { id: tenant });
    await ok(coordinator, 'POST', `/tenants/${tenant}/pools`, {
      id: pool,
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
    });
    const issued = await ok(coordinator, 'POST', `/tenants/${tenant}/tokens`, { name: 'ci' });
    tokens[who] = String(issued.token);
    if (who === 'own') tokenId = String(issued.id);
  }
  const scaled = await ok(coordinator, 'POST', '/tenants/acme/pools/workers/scale', { running: 1 });
  const instance = String((scaled.created as Array<{ id: string }>)[0]?.id);
  return {
    coordinator,
    tokens,
    tokenId,
    nodeFetch: node.fetch,
    nodeTls: node.tlsMaterial(),
    instance,
  };
}

function target(w: World, caller: Caller, def: RouteDef, node: string, probe = true) {
  const path = fillPath(def.path, {
    tenant: 'acme',
    pool: 'workers',
    instance: w.instance,
    node,
    token: w.tokenId,
    // Admitted callers are refused by validation first, so the job need not exist.
    job: 'j-probe',
    seq: '0',
    // Builds and artifacts: well-formed names of things that do not exist.
    digest: 'a'.repeat(64),
    revision: 'c'.repeat(64),
    build: 'b1',
    // Moves: one that does not exist, a well-formed part name.
    move: 'mv-probe',
    part: 'data.ext4',
  });
  const probing = probe ? (def.scope === 'tenant-list' ? '?tenant=acme&probe=1' : '?probe=1') : '';
  const token = { none: undefined, node: undefined, admin: ADMIN, ...w.tokens }[caller];
  return { path: `${path}${probing}`, token };
}

function ask(w: World, caller: Caller, def: RouteDef, node = 'node-1'): Promise<Answer> {
  const { path, token } = target(w, caller, def, node);
  const fetch = caller === 'node' ? w.nodeFetch : w.coordinator.anonymous;
  return call(fetch, w.coordinator.url, def.method.toUpperCase(), path, {
    ...(token !== undefined ? { token } : {}),
  });
}

/**
 * The same request as a WebSocket upgrade: the route's scope and validation decide on the
 * upgrade request itself, so a refusal is the same HTTP answer; 101 means it was accepted.
 */
function upgrade(
  w: World,
  caller: Caller,
  def: RouteDef,
  node = 'node-1',
  probe = true,
): Promise<Answer> {
  const { path, token } = target(w, caller, def, node, probe);
  const url = `${w.coordinator.url.replace(/^https/, 'wss')}/v1${path}`;
  const tls = caller === 'node' ? w.nodeTls : { caPem: w.coordinator.caPem };
  const ws = new WebSocket(url, {
    headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    ca: tls.caPem,
    ...(tls.certificatePem !== undefined ? { cert: tls.certificatePem, key: tls.keyPem } : {}),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: undefined });
    });
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        ws.terminate();
      });
    });
    ws.on('error', (error) => {
      if (ws.readyState !== ws.CLOSED) reject(error);
    });
  });
}

function outcomeOf(answer: Answer): Outcome | string {
  const text = JSON.stringify(answer.body);
  if (answer.status === 400 && text.includes('probe')) return 'admitted';
  if (answer.status === 401 || answer.status === 403 || answer.status === 404) {
    return answer.status;
  }
  return `unexpected ${answer.status}: ${text}`;
}

const named = Object.entries(routes) as Array<[string, RouteDef]>;

await describeEachDatabase('permissions from the route table', ({ url }) => {
  afterEach(async () => {
    await world?.coordinator.close();
    world = undefined;
  });

  it('answers every route, as every caller, as its declared scope says, changing nothing', async () => {
    const w = (world = await build(url()));
    const eventsBefore = ((await w.coordinator.admin('GET', '/events?last=1000')).body as [])
      .length;
    const seen: string[] = [];
    const want: string[] = [];
    const refusals = new Map<string, string>();
    for (const [name, def] of named) {
      for (const caller of callers) {
        const answer = await ask(w, caller, def);
        seen.push(`${name} as ${caller}: ${String(outcomeOf(answer))}`);
        want.push(`${name} as ${caller}: ${String(expected(def, caller))}`);
        if (caller === 'other' && answer.status === 404)
          refusals.set(name, JSON.stringify(answer.body));
        if (!def.websocket) continue;
        const upgraded = await upgrade(w, caller, def);
        seen.push(`${name} upgraded as ${caller}: ${String(outcomeOf(upgraded))}`);
        want.push(`${name} upgraded as ${caller}: ${String(expected(def, caller))}`);
        // Refused alike: the upgrade gets the very same answer as the plain request.
        if (typeof outcomeOf(upgraded) === 'number') {
          expect({ name, caller, ...upgraded, body: JSON.stringify(upgraded.body) }).toEqual({
            name,
            caller,
            ...answer,
            body: JSON.stringify(answer.body),
          });
        }
      }
      if (def.scope === 'node' || def.scope === 'node-certificate') {
        // A node reaches only its own paths.
        const crossed = await ask(w, 'node', def, 'node-2');
        seen.push(`${name} as node-1 on node-2: ${String(outcomeOf(crossed))}`);
        want.push(`${name} as node-1 on node-2: 403`);
        if (def.websocket) {
          const crossedUp = await upgrade(w, 'node', def, 'node-2');
          seen.push(`${name} upgraded as node-1 on node-2: ${String(outcomeOf(crossedUp))}`);
          want.push(`${name} upgraded as node-1 on node-2: 403`);
        }
      }
    }
    expect(seen).toEqual(want);
    expect(((await w.coordinator.admin('GET', '/events?last=1000')).body as []).length).toBe(
      eventsBefore,
    );

    // Another tenant's objects answer byte for byte as missing ones do: once acme is gone,
    // rival's token gets the very same bodies, and they are the admin's "no such tenant".
    await ok(w.coordinator, 'DELETE', '/tenants/acme?force=true');
    for (const [name, def] of named) {
      const before = refusals.get(name);
      if (before === undefined) continue;
      expect({ name, body: JSON.stringify((await ask(w, 'other', def)).body) }).toEqual({
        name,
        body: before,
      });
    }
    const missing = await w.coordinator.admin('GET', '/tenants/acme');
    expect(missing.status).toBe(404);
    expect(JSON.stringify(missing.body)).toBe(refusals.get('getTenant'));
  });

  it('upgrades a WebSocket route only for a caller its scope admits, and only as an upgrade', async () => {
    const w = (world = await build(url()));
    const socketRoutes = named.filter(([, def]) => def.websocket);
    expect(socketRoutes.map(([name]) => name).sort()).toEqual([
      'execInstance',
      'instanceLogs',
      'nodeTunnel',
      'workerExec',
    ]);
    type SocketRoute = 'execInstance' | 'instanceLogs' | 'nodeTunnel' | 'workerExec';
    const opened = async (caller: Caller, name: SocketRoute) =>
      (await upgrade(w, caller, routes[name], 'node-1', false)).status;
    expect(await opened('node', 'nodeTunnel')).toBe(101);
    expect(await opened('admin', 'nodeTunnel')).toBe(101);
    expect(await opened('own', 'nodeTunnel')).toBe(403);
    // Worker exec: node scope, and acme/workers is no gateway this node runs (the 404 of one).
    expect(await opened('own', 'workerExec')).toBe(403);
    expect(await opened('other', 'workerExec')).toBe(403);
    expect(await opened('node', 'workerExec')).toBe(404);
    expect(await opened('admin', 'workerExec')).toBe(404);
    for (const name of ['execInstance', 'instanceLogs'] as const) {
      expect(await opened('own', name)).toBe(101);
      expect(await opened('admin', name)).toBe(101);
      expect(await opened('other', name)).toBe(404);
      expect(await opened('node', name)).toBe(401);
      // A plain request the scope admits is told to upgrade, and nothing is opened.
      const plain = await call(
        w.coordinator.anonymous,
        w.coordinator.url,
        'GET',
        target(w, 'own', routes[name], 'node-1', false).path,
        { token: w.tokens.own },
      );
      expect(plain.status).toBe(400);
      expect(JSON.stringify(plain.body)).toContain('Upgrade: websocket');
    }
  });

  it("confines tenant-list routes to a tenant token's own tenant", async () => {
    const w = (world = await build(url()));
    await ok(w.coordinator, 'POST', '/tenants/rival/pools/secret/scale', { running: 1 });
    const as = async (token: string, path: string) =>
      (await call(w.coordinator.anonymous, w.coordinator.url, 'GET', path, { token }))
        .body as Array<Record<string, unknown>>;
    const tenantsOf = (items: Array<Record<string, unknown>>, key: string) =>
      [...new Set(items.map((item) => item[key]))].sort();
    expect(tenantsOf(await as(w.tokens.own, '/tenants'), 'id')).toEqual(['acme']);
    expect(tenantsOf(await as(w.tokens.own, '/instances'), 'tenantId')).toEqual(['acme']);
    expect(tenantsOf(await as(w.tokens.own, '/events?last=100'), 'tenantId')).toEqual(['acme']);
    expect(tenantsOf(await as(w.tokens.own, '/instances?tenant=acme'), 'tenantId')).toEqual([
      'acme',
    ]);
    expect(tenantsOf(await as(ADMIN, '/tenants'), 'id')).toEqual(['acme', 'rival']);
    expect(tenantsOf(await as(ADMIN, '/instances'), 'tenantId')).toEqual(['acme', 'rival']);
    expect(tenantsOf(await as(ADMIN, '/instances?tenant=rival'), 'tenantId')).toEqual(['rival']);
  });
});

describe('scope declarations', () => {
  it('opens only the routes meant to be open to anyone', () => {
    // A new public route is a deliberate decision: it must be added here too.
    const open = named.filter(([, def]) => def.scope === 'public').map(([name]) => name);
    expect(open.sort()).toEqual(['getSigningKey', 'health', 'joinNode']);
  });

  it('refuses to serve a route whose scope reads a path parameter it does not have', () => {
    const credentials: Credentials = {
      token: () => Promise.reject(new Error('not called')),
      certificate: () => Promise.resolve(undefined),
    };
    const def: RouteDef = { ...routes.listPools, path: '/pools' };
    expect(() => requireScope('listAllPools', def, credentials)).toThrow(
      "route listAllPools (/pools) has scope 'tenant' but no :tenant",
    );
    const node: RouteDef = { ...routes.nodeHeartbeat, path: '/heartbeat' };
    expect(() => requireScope('beat', node, credentials)).toThrow(/scope 'node' but no :node/);
  });
});
