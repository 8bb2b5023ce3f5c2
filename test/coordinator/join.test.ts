import { afterEach, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  call,
  FACTS,
  messageOf,
  startTlsCoordinator,
  type TlsCoordinator,
} from './join-harness.ts';

let coordinator: TlsCoordinator | undefined;

await describeEachDatabase('joining a host', ({ url }) => {
  // Registered after the harness's hook, so it runs first: the coordinator lets go of the
  // database before the harness drops it.
  afterEach(async () => {
    await coordinator?.close();
    coordinator = undefined;
  });
  it('exchanges a join token once for a node certificate and registers the node', async () => {
    coordinator = await startTlsCoordinator(url());
    const issued = await coordinator.issueToken({ nodeId: 'node-1' });
    expect(issued.token).toMatch(/^mvmj_/);
    const session = await coordinator.join('node-1', issued.token);
    expect(session.nodeId).toBe('node-1');
    const node = await coordinator.admin('GET', '/nodes/node-1');
    expect(node.body).toMatchObject({ id: 'node-1', status: 'ready', capacity: FACTS.capacity });
    // The token is spent: a second join (same node or another) is refused.
    await expect(coordinator.join('node-1', issued.token)).rejects.toThrow(/join token refused/);
    await expect(coordinator.join('node-2', issued.token)).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    expect(((await coordinator.admin('GET', '/nodes')).body as unknown[]).length).toBe(1);
    const events = (await coordinator.admin('GET', '/events?last=20')).body as Array<{
      action: string;
      detail: object;
    }>;
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['node.join', 'node.join-token.issue']),
    );
    expect(JSON.stringify(events)).not.toContain(issued.token);
  });

  it('records the underlay address a host joins with, on the node and in its identity', async () => {
    coordinator = await startTlsCoordinator(url());
    const session = await coordinator.join('node-1', undefined, { underlayIp: '10.9.0.7' });
    expect(session.underlayIp).toBe('10.9.0.7');
    const node = await coordinator.admin('GET', '/nodes/node-1');
    expect(node.body).toMatchObject({ id: 'node-1', underlayIp: '10.9.0.7' });
    // Re-joining without an address keeps the known one, and the identity learns it back.
    const again = await coordinator.issueToken({ nodeId: 'node-1' });
    const rejoined = await coordinator.join('node-1', again.token);
    expect(rejoined.underlayIp).toBe('10.9.0.7');
    const bad = await call(coordinator.anonymous, coordinator.url, 'POST', '/nodes/join', {
      body: { ...FACTS, token: 'x', nodeId: 'node-2', csrPem: 'x', underlayIp: '10.9.0.256' },
    });
    expect(bad.status).toBe(400);
    expect(messageOf(bad)).toContain('underlayIp');
  });

  it('refuses forged, expired and wrong-node tokens and changes nothing', async () => {
    coordinator = await startTlsCoordinator(url());
    const forged = `mvmj_${'A'.repeat(43)}`;
    await expect(coordinator.join('node-1', forged)).rejects.toThrow(/join token refused/);
    const bound = await coordinator.issueToken({ nodeId: 'node-a' });
    await expect(coordinator.join('node-b', bound.token)).rejects.toThrow(/join token refused/);
    const shortLived = await coordinator.issueToken({ ttlSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const error = await coordinator.join('node-1', shortLived.token).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'unauthenticated' });
    expect((error as Error).message).not.toContain(shortLived.token);
    expect((await coordinator.admin('GET', '/nodes')).body).toEqual([]);
    // The refused wrong-node attempt left the bound token usable for its own node.
    await coordinator.join('node-a', bound.token);
  });

  it('lets an unbound token join new nodes only, never take over a registered one', async () => {
    coordinator = await startTlsCoordinator(url());
    await coordinator.join('node-1');
    const unbound = await coordinator.issueToken();
    await expect(coordinator.join('node-1', unbound.token)).rejects.toThrow(/already registered/);
    // Refused inside the transaction: the token is still unused.
    await coordinator.join('node-2', unbound.token);
  });

  it('refuses a join token or CSR that does not parse, before signing anything', async () => {
    coordinator = await startTlsCoordinator(url());
    const issued = await coordinator.issueToken();
    const bad = await call(coordinator.anonymous, coordinator.url, 'POST', '/nodes/join', {
      body: {
        ...FACTS,
        token: issued.token,
        nodeId: 'node-1',
        csrPem:
          '-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n',
      },
    });
    expect(bad.status).toBe(400);
    expect(messageOf(bad)).toMatch(/certificate signing request/);
    expect(messageOf(bad)).not.toContain(issued.token);
    // The failed signing did not spend the token.
    await coordinator.join('node-1', issued.token);
  });

  it('issues join tokens to the admin only', async () => {
    coordinator = await startTlsCoordinator(url());
    const anonymous = await call(
      coordinator.anonymous,
      coordinator.url,
      'POST',
      '/nodes/join-tokens',
      {
        body: {},
      },
    );
    expect(anonymous.status).toBe(401);
  });
});
