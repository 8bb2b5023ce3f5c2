import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createCsr } from '../../drivers/pki/openssl-csr.ts';
import { issuedBy } from '../../drivers/pki/cert-info.ts';
import { newEcPrivateKeyPem, writeFileAtomic } from '../../drivers/pki/key-files.ts';
import type { CertificateAuthority } from '../../ports/certificate-authority.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

export interface ServerCertificate {
  keyPem: string;
  certificatePem: string;
}

const SERVER_CERT_VALIDITY_MS = 365 * 24 * 3600 * 1000;

/** Loopback always, so agents and the CLI on the coordinator's host can verify it too. */
export function serverAltNames(names: readonly string[] = []): string[] {
  const all = ['127.0.0.1', '::1', 'localhost', ...names];
  return [...new Set(all)].map((name) => (isIP(name) !== 0 ? `IP:${name}` : `DNS:${name}`));
}

async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}

/** Still ours, for the same names, with more than a third of its validity left. */
function reusable(
  existing: { keyPem?: string; certificatePem?: string; names?: string },
  ca: CertificateAuthority,
  altNames: readonly string[],
  now: Date,
): existing is ServerCertificate {
  if (existing.keyPem === undefined || existing.certificatePem === undefined) return false;
  // openssl and node spell IPv6 names differently; compare what we asked for last time.
  if (existing.names !== JSON.stringify(altNames)) return false;
  if (!issuedBy(existing.certificatePem, ca.caCertificatePem)) return false;
  const cert = new X509Certificate(existing.certificatePem);
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  return to - now.getTime() > (to - from) / 3;
}

/**
 * The coordinator's HTTPS certificate in `<certDir>/server.{key,crt}`, issued by its own CA:
 * kept across restarts while it is good, re-issued when the names change or it runs low.
 */
export async function ensureServerCertificate(options: {
  ca: CertificateAuthority;
  certDir: string;
  names?: readonly string[];
  runner: ProcessRunner;
  clock: Clock;
}): Promise<ServerCertificate> {
  const keyFile = join(options.certDir, 'server.key');
  const certFile = join(options.certDir, 'server.crt');
  const namesFile = join(options.certDir, 'server.names.json');
  const altNames = serverAltNames(options.names);
  const now = options.clock.now();
  const existing = {
    keyPem: await readOptional(keyFile),
    certificatePem: await readOptional(certFile),
    names: await readOptional(namesFile),
  };
  if (reusable(existing, options.ca, altNames, now)) {
    return { keyPem: existing.keyPem, certificatePem: existing.certificatePem };
  }
  const keyPem = newEcPrivateKeyPem();
  const issued = await options.ca.sign({
    csrPem: await createCsr(options.runner, keyPem, 'mvm-coordinator'),
    commonName: 'mvm-coordinator',
    altNames,
    usage: 'server',
    notBefore: new Date(now.getTime() - 5 * 60 * 1000),
    notAfter: new Date(now.getTime() + SERVER_CERT_VALIDITY_MS),
  });
  await writeFileAtomic(keyFile, keyPem, true);
  await writeFileAtomic(certFile, issued.certificatePem);
  await writeFileAtomic(namesFile, JSON.stringify(altNames));
  return { keyPem, certificatePem: issued.certificatePem };
}

const REFRESH_EVERY_MS = 6 * 3600 * 1000;

/**
 * Re-checks the server certificate every few hours and swaps a renewed one into the live
 * listener: new handshakes get it, open connections keep theirs, nothing restarts.
 */
export function keepServerCertificateFresh(options: {
  server: object;
  caPem: string;
  current: ServerCertificate;
  renew: () => Promise<ServerCertificate>;
  onError: (error: unknown) => void;
  everyMs?: number;
}): () => void {
  const server = options.server as { setSecureContext?: (context: object) => void };
  let served = options.current.certificatePem;
  const timer = setInterval(() => {
    options
      .renew()
      .then((next) => {
        if (next.certificatePem === served || server.setSecureContext === undefined) return;
        server.setSecureContext({
          key: next.keyPem,
          cert: next.certificatePem + options.caPem,
          ca: [options.caPem],
        });
        served = next.certificatePem;
      })
      .catch(options.onError);
  }, options.everyMs ?? REFRESH_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
