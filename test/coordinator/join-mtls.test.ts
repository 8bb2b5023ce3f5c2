import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createHttpsFetch, type HttpsFetch } from '../../src/agent/join/https-fetch.ts';
import type { NodeSession } from '../../src/agent/join/node-session.ts';
import { nodeUri } from '../../src/drivers/pki/cert-info.ts';
import { newEcPrivateKeyPem } from '../../src/drivers/pki/key-files.ts';
import { OpensslCa } from '../../src/drivers/pki/openssl-ca.ts';
import { createCsr } from '../../src/drivers/pki/openssl-csr.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import {
  call,
  messageOf,
  runner,
  startTlsCoordinator,
  type TlsCoordinator,
} from './join-harness.ts';

let coordinator: TlsCoordinator | undefined;
const scratch: string[] = [];

function desired(fetch: HttpsFetch, node = 'node-1') {
  const c = required(coordinator);
  return call(fetch, c.url, 'GET', `/nodes/${node}/desired?after=0&waitMs=0`);
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('no coordinator');
  return value;
}

/** A client certificate for `nodeId` from some CA, with its key, as a fetch presenting it. */
async function clientWith(
  ca: OpensslCa,
  nodeId: string,
  validity: { notBefore: Date; notAfter: Date },
): Promise<HttpsFetch> {
  const keyPem = newEcPrivateKeyPem();
  const issued = await ca.sign({
    csrPem: await createCsr(runner, keyPem, nodeId),
    commonName: nodeId,
    altNames: [nodeUri(nodeId), `DNS:${nodeId}`],
    usage: 'client',
    ...validity,
  });
  const caPem = required(coordinator).caPem;
  return createHttpsFetch(() => ({ caPem, certificatePem: issued.certificatePem, keyPem }));
}

async function placeOneInstance(c: TlsCoordinator): Promise<void> {
  expect((await c.admin('POST', '/tenants', { id: 'acme' })).status).toBe(201);
  const pool = { id: 'workers', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
  expect((await c.admin('POST', '/tenants/acme/pools', pool)).status).toBe(201);
  const scaled = await c.admin('POST', '/tenants/acme/pools/workers/scale', { running: 1 });
  expect(scaled.status).toBe(200);
}

await describeEachDatabase('node mTLS', ({ url }) => {
  afterEach(async () => {
    await coordinator?.close();
    coordinator = undefined;
    for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('lets a joined agent read its own desired document and report status', async () => {
    coordinator = await startTlsCoordinator(url());
    const session: NodeSession = await coordinator.join('node-1');
    await placeOneInstance(coordinator);
    const doc = await desired(session.fetch);
    expect(doc.status).toBe(200);
    const placed = await coordinator.admin('GET', '/instances?node=node-1');
    const id = (placed.body as Array<{ id: string }>)[0]?.id;
    expect(id).toBeDefined();
    const report = await call(
      session.fetch,
      coordinator.url,
      'PUT',
      `/nodes/node-1/instances/acme/workers/${id ?? ''}/status`,
      { body: { status: 'running' } },
    );
    expect(report.status).toBe(200);
    // The admin token keeps working on node routes; anonymous callers do not.
    expect((await coordinator.admin('GET', '/nodes/node-1/desired?after=0&waitMs=0')).status).toBe(
      200,
    );
    const anonymous = await desired(coordinator.anonymous);
    expect(anonymous.status).toBe(401);
    expect(messageOf(anonymous)).toMatch(/client certificate/);
  });

  it("refuses a certificate from another CA and one node's certificate on another's path", async () => {
    coordinator = await startTlsCoordinator(url());
    const nodeA = await coordinator.join('node-a');
    await coordinator.join('node-b');
    const otherDir = await mkdtemp(join(tmpdir(), 'mvm-other-ca-'));
    scratch.push(otherDir);
    const now = Date.now();
    const forged = await clientWith(await OpensslCa.loadOrCreate(otherDir, runner), 'node-a', {
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
    });
    const foreign = await desired(forged, 'node-a');
    expect(foreign.status).toBe(401);
    expect(messageOf(foreign)).toMatch(/not issued by this coordinator's CA/);
    const crossed = await desired(nodeA.fetch, 'node-b');
    expect(crossed.status).toBe(403);
    expect(messageOf(crossed)).toMatch(/node 'node-a' cannot act for node 'node-b'/);
    // A node cannot use its certificate for admin routes either.
    const nodes = await call(nodeA.fetch, coordinator.url, 'GET', '/nodes');
    expect(nodes.status).toBe(401);
  });

  it('refuses an expired certificate and one our CA signed but never recorded', async () => {
    coordinator = await startTlsCoordinator(url());
    await coordinator.join('node-1');
    const ours = await OpensslCa.loadOrCreate(join(coordinator.dataDir, 'ca'), runner);
    const now = Date.now();
    const expired = await clientWith(ours, 'node-1', {
      notBefore: new Date(now - 7_200_000),
      notAfter: new Date(now - 3_600_000),
    });
    const old = await desired(expired);
    expect(old.status).toBe(401);
    expect(messageOf(old)).toMatch(/expired/);
    const unrecorded = await clientWith(ours, 'node-1', {
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
    });
    const unknown = await desired(unrecorded);
    expect(unknown.status).toBe(401);
    expect(messageOf(unknown)).toMatch(/never issued/);
  });

  it('refuses a revoked node and cordons it', async () => {
    coordinator = await startTlsCoordinator(url());
    const session = await coordinator.join('node-1');
    expect((await desired(session.fetch)).status).toBe(200);
    const revoked = await coordinator.admin('POST', '/nodes/node-1/revoke');
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ node: { status: 'cordoned' }, revokedCertificates: 1 });
    const refused = await desired(session.fetch);
    expect(refused.status).toBe(401);
    expect(messageOf(refused)).toMatch(/revoked/);
    const renew = await session.renew().catch((e: unknown) => e);
    expect(renew).toMatchObject({ code: 'unauthenticated' });
  });
});
