import { X509Certificate } from 'node:crypto';

/** What mvm reads from a certificate, parsed by node's X509Certificate (no hand-rolled ASN.1). */
export interface CertInfo {
  serial: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** The node named by a `URI:mvm://node/<id>` SAN, if any. */
  nodeId: string | undefined;
}

const NODE_URI = /(?:^|,\s*)URI:mvm:\/\/node\/([a-z0-9-]{1,63})(?=,|$)/;

export function nodeUri(nodeId: string): string {
  return `URI:mvm://node/${nodeId}`;
}

export function certInfo(cert: X509Certificate): CertInfo {
  return {
    serial: cert.serialNumber.toUpperCase(),
    fingerprint: cert.fingerprint256,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    nodeId: NODE_URI.exec(cert.subjectAltName ?? '')?.[1],
  };
}

export function parseCertPem(pem: string | Buffer): CertInfo {
  return certInfo(new X509Certificate(pem));
}

/** True when `pem` parses and was signed by the CA in `caPem`. */
export function issuedBy(pem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(pem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
