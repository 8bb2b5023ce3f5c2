import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { serveCoordinator } from '../../src/coordinator/serve.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import { MvmError } from '../../src/core/errors.ts';

const tenant = {
  id: 'smoke-test',
  netId: 99,
  subnet: '10.240.99.0/24',
  gateway: '10.240.99.1',
  bridge: 'br-tenant-99',
  egress: false,
  quotas: {
    maxVcpus: 8,
    maxMemMib: 8192,
    maxRunning: 4,
    maxWarm: 32,
    maxPools: 16,
    maxInstancesPerPool: 64,
    maxDiskGib: 500,
  },
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  version: 1,
};

/** Records what was sent and answers with a fixed response. */
function fakeFetch(answer: () => Response): { fetch: FetchLike; sent: Request[] } {
  const sent: Request[] = [];
  return {
    sent,
    fetch: (request) => {
      sent.push(request);
      return answer();
    },
  };
}

async function caught(promise: Promise<unknown>): Promise<MvmError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MvmError);
  return error as MvmError;
}

describe('createApiClient', () => {
  it('fills the path, sends JSON with the token, and returns the validated answer', async () => {
    const fake = fakeFetch(() => Response.json(tenant, { status: 201 }));
    const client = createApiClient({
      baseUrl: 'http://coord:7070/',
      token: 'tok',
      fetch: fake.fetch,
    });
    const created = await client.call('createTenant', { body: { id: 'smoke-test', netId: 99 } });
    expect(created).toEqual(tenant);
    const [request] = fake.sent;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('http://coord:7070/v1/tenants');
    expect(request?.headers.get('authorization')).toBe('Bearer tok');
    expect(await request?.json()).toEqual({ id: 'smoke-test', netId: 99 });
  });

  it('builds query strings and path parameters', async () => {
    const fake = fakeFetch(() =>
      Response.json({ destroyed: { tenants: 1, pools: 0, instances: 0 } }),
    );
    const client = createApiClient({ baseUrl: 'http://coord', fetch: fake.fetch });
    await client.call('destroyTenant', { params: { tenant: 'a' }, query: { force: 'true' } });
    expect(fake.sent[0]?.url).toBe('http://coord/v1/tenants/a?force=true');
    expect(fake.sent[0]?.headers.get('authorization')).toBeNull();
  });

  it('refuses a bad body before sending anything, listing every problem', async () => {
    const fake = fakeFetch(() => Response.json(tenant));
    const client = createApiClient({ baseUrl: 'http://coord', fetch: fake.fetch });
    const error = await caught(
      client.call('createPool', {
        params: { tenant: 'Bad' },
        body: { id: 'x', flake: '', profile: 'p', vcpus: 1.5, memMib: 1 },
      }),
    );
    expect(error.code).toBe('invalid_argument');
    expect(error.details?.['problems']).toEqual([
      expect.stringMatching(/^tenant: /),
      expect.stringMatching(/^flake: /),
      // An empty flake ref is both too short and not a ref.
      expect.stringMatching(/^flake: a flake ref/),
      expect.stringMatching(/^vcpus: /),
      // The contract holds the server's limits (128-262144 MiB), so the CLI checks them too.
      expect.stringMatching(/^memMib: .*128/),
    ]);
    expect(fake.sent).toHaveLength(0);
  });

  it('maps an error body to an MvmError with the same code and details', async () => {
    const body = {
      error: { code: 'quota_exceeded', message: 'too many', details: { tenantId: 'a' } },
    };
    const client = createApiClient({
      baseUrl: 'http://coord',
      fetch: () => Response.json(body, { status: 422 }),
    });
    const error = await caught(client.call('listTenants', {}));
    expect(error).toMatchObject({
      code: 'quota_exceeded',
      message: 'too many',
      details: { tenantId: 'a' },
    });
  });

  it('maps an answer without an mvm error body by its HTTP status', async () => {
    const client = createApiClient({
      baseUrl: 'http://coord',
      fetch: () => new Response('<html>', { status: 502 }),
    });
    const error = await caught(client.call('listTenants', {}));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('answered HTTP 502 without an mvm error body');
  });

  it('turns a connection failure into unavailable with what to do next', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7070'), {
      code: 'ECONNREFUSED',
    });
    const client = createApiClient({
      baseUrl: 'http://127.0.0.1:7070',
      fetch: () => {
        throw new TypeError('fetch failed', { cause: refused });
      },
    });
    const error = await caught(client.call('listTenants', {}));
    expect(error.code).toBe('unavailable');
    expect(error.message).toBe(
      "cannot reach the coordinator at http://127.0.0.1:7070: connect ECONNREFUSED 127.0.0.1:7070; start it with 'mvm coordinator serve' or set --coordinator",
    );
  });

  it('refuses an answer that does not match the contract', async () => {
    const client = createApiClient({
      baseUrl: 'http://coord',
      fetch: () => Response.json([{ id: 'a' }]),
    });
    const error = await caught(client.call('listTenants', {}));
    expect(error.code).toBe('internal');
    expect(error.message).toContain('does not match');
  });

  it('reaches a real socket: a closed port is unavailable', async () => {
    const client = createApiClient({ baseUrl: 'http://127.0.0.1:9' });
    const error = await caught(client.call('health', {}));
    expect(error.code).toBe('unavailable');
  });
});

describe('createApiClient against a real coordinator long-poll', () => {
  it("ends a call in flight on the caller's signal or the call's own deadline", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-api-signal-'));
    const token = randomBytes(32).toString('hex');
    const coordinator = await serveCoordinator(
      {
        listen: '127.0.0.1:0',
        databaseUrl: join(dir, 'coordinator.sqlite'),
        clusterCidr: '10.240.0.0/12',
        adminToken: token,
        dataDir: dir,
      },
      { logger: pino({ level: 'silent' }) },
    );
    try {
      const client = createApiClient({ baseUrl: coordinator.url, token });
      await client.call('registerNode', {
        params: { node: 'n1' },
        body: { hostname: 'n1', arch: 'x86_64', capacity: { vcpus: 1, memMib: 512, diskGib: 1 } },
      });
      const now = await client.call('watchNodeDesired', {
        params: { node: 'n1' },
        query: { after: 0, waitMs: 0 },
      });
      const generation =
        'unchanged' in now
          ? now.generation
          : (JSON.parse((now as { payload: string }).payload) as { generation: number }).generation;
      // Nothing changes past the current generation: the coordinator holds the answer 20 s.
      const poll = { params: { node: 'n1' }, query: { after: generation, waitMs: 20_000 } };
      const abort = new AbortController();
      const started = Date.now();
      setTimeout(() => abort.abort(), 100);
      const aborted = await caught(client.call('watchNodeDesired', poll, { signal: abort.signal }));
      expect(aborted.code).toBe('unavailable');
      expect(aborted.message).toContain('was cancelled');
      const late = await caught(client.call('watchNodeDesired', poll, { timeoutMs: 300 }));
      expect(late.message).toContain('no answer within 0.3s');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await coordinator.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
