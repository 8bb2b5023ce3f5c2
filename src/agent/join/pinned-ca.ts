import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { UnavailableError } from '../../core/errors.ts';

/** Fingerprints compare by their hex digits: with or without colons, in either case. */
export function sameFingerprint(a: string, b: string): boolean {
  const hex = (s: string) => s.replace(/[^0-9a-f]/gi, '').toUpperCase();
  return hex(a) === hex(b);
}

function toPem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

function chainOf(leaf: PeerCertificate & { issuerCertificate?: PeerCertificate }): Buffer[] {
  const chain: Buffer[] = [];
  let cert: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = leaf;
  while (cert?.raw !== undefined && !chain.some((c) => c.equals(cert?.raw ?? Buffer.alloc(0)))) {
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * First contact with a coordinator whose CA we only know by fingerprint (or not at all, in
 * dev): a bare TLS handshake, no request and so no secret sent, that returns the CA from the
 * chain the server presents. With `fingerprint` the CA must match it and must have signed
 * the server's certificate; without one the caller trusts on first use.
 */
export async function fetchServerCa(url: string, fingerprint?: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '');
  const chain = await new Promise<Buffer[]>((resolve, reject) => {
    const socket = connect({
      host,
      port: Number(port || 443),
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    socket.once('error', (error) =>
      reject(new UnavailableError(`cannot reach coordinator at ${url}: ${error.message}`)),
    );
    socket.once('secureConnect', () => {
      resolve(chainOf(socket.getPeerCertificate(true)));
      socket.end();
    });
  });
  const [leaf, ...issuers] = chain.map((der) => new X509Certificate(der));
  const ca = issuers.find(
    (c) => (fingerprint === undefined || sameFingerprint(c.fingerprint256, fingerprint)) && c.ca,
  );
  if (leaf === undefined || ca === undefined || !leaf.verify(ca.publicKey)) {
    throw new UnavailableError(
      `the coordinator at ${url} did not present a CA ${fingerprint ? 'with the expected fingerprint ' : ''}that signed its certificate; check --coordinator and --ca-fingerprint`,
    );
  }
  return toPem(ca.raw);
}
