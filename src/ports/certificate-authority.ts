/**
 * The coordinator's certificate authority: it turns a node's certificate signing request into
 * a short-lived client certificate naming that node. Implemented with the openssl CLI.
 */
export interface IssuedCertificate {
  certificatePem: string;
  /** Upper-case hex, as node's X509Certificate reports it. */
  serial: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  fingerprint: string;
  notBefore: string;
  notAfter: string;
}

export interface CertificateRequest {
  csrPem: string;
  /** The subject's common name; the CSR's own subject is ignored. */
  commonName: string;
  /** Subject alternative names in openssl syntax, e.g. `URI:mvm://node/n1`, `IP:127.0.0.1`. */
  altNames: readonly string[];
  usage: 'client' | 'server';
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateAuthority {
  readonly caCertificatePem: string;
  /** Throws ValidationError when the CSR is malformed or not signed by its own key. */
  sign(request: CertificateRequest): Promise<IssuedCertificate>;
}
