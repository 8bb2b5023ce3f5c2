import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterEach, expect, it } from 'vitest';
import {
  ensureServerCertificate,
  keepServerCertificateFresh,
} from '../../src/coordinator/tls/server-certificate.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { OpensslCa } from '../../src/drivers/pki/openssl-ca.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { runner } from './join-harness.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function servedFingerprint(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem }, () => {
      resolve(new X509Certificate(socket.getPeerCertificate().raw).fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

it('swaps a renewed server certificate into the running listener', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-server-cert-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const ca = await OpensslCa.loadOrCreate(join(dir, 'ca'), runner);
  const issue = (certDir: string) =>
    ensureServerCertificate({ ca, certDir: join(dir, certDir), runner, clock: systemClock });
  const first = await issue('a');
  // Same names and plenty of validity: kept, not re-issued.
  expect((await issue('a')).certificatePem).toBe(first.certificatePem);
  const second = await issue('b');
  const server = createServer({ key: first.keyPem, cert: first.certificatePem });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
  expect(await servedFingerprint(port, ca.caCertificatePem)).toBe(
    fingerprint(first.certificatePem),
  );
  const stop = keepServerCertificateFresh({
    server,
    caPem: ca.caCertificatePem,
    current: first,
    renew: () => Promise.resolve(second),
    onError: (error) => {
      throw error;
    },
    everyMs: 20,
  });
  cleanups.push(stop);
  await waitUntil(
    async () =>
      (await servedFingerprint(port, ca.caCertificatePem)) === fingerprint(second.certificatePem)
        ? true
        : undefined,
    { clock: systemClock, timeoutMs: 5_000, what: 'the renewed certificate to be served' },
  );
});
