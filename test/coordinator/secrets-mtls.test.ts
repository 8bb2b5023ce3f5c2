import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { call, messageOf, startTlsCoordinator, type TlsCoordinator } from './join-harness.ts';

/**
 * Secret values over the real HTTPS listener: a joined node's certificate (mTLS) fetches the
 * secrets of a pool it runs; another joined node gets nothing, neither on its own path nor
 * with its certificate on the first node's path, and a caller without a certificate is asked
 * for one.
 */
let coordinator: TlsCoordinator | undefined;

await describeEachDatabase('secrets over mTLS', ({ url }) => {
  afterEach(async () => {
    await coordinator?.close();
    coordinator = undefined;
  });

  it('gives the values to the node running the pool, and to no other node', async () => {
    const c = await startTlsCoordinator(url());
    coordinator = c;
    const running = await c.join('node-1');
    expect((await c.admin('POST', '/tenants', { id: 'acme' })).status).toBe(201);
    const pool = { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
    expect((await c.admin('POST', '/tenants/acme/pools', pool)).status).toBe(201);
    expect((await c.admin('POST', '/tenants/acme/pools/web/scale', { running: 1 })).status).toBe(
      200,
    );
    // Joined after the instance was placed on node-1: it runs nothing.
    const idle = await c.join('node-2');
    const set = await c.admin('POST', '/tenants/acme/secrets', {
      values: { API_KEY: 'mtls-value-1' },
    });
    expect(set.status).toBe(200);

    const own = await call(running.fetch, c.url, 'GET', '/nodes/node-1/secrets/acme/web');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ values: { API_KEY: 'mtls-value-1' } });
    const other = await call(idle.fetch, c.url, 'GET', '/nodes/node-2/secrets/acme/web');
    expect(other.status).toBe(404);
    const crossed = await call(idle.fetch, c.url, 'GET', '/nodes/node-1/secrets/acme/web');
    expect(crossed.status).toBe(403);
    expect(messageOf(crossed)).toMatch(/node 'node-2' cannot act for node 'node-1'/);
    const anonymous = await call(c.anonymous, c.url, 'GET', '/nodes/node-1/secrets/acme/web');
    expect(anonymous.status).toBe(401);
    for (const answer of [other, crossed, anonymous]) {
      expect(JSON.stringify(answer.body)).not.toContain('mtls-value-1');
    }
  });
});
