import { ValidationError } from '../../core/errors.ts';
import type { RegisterNodeRequest } from '../../contract/requests.ts';
import type { NodeView } from '../../contract/resources.ts';
import { createApiClient, type FetchLike } from '../../drivers/coordinator-api/api-client.ts';
import { issuedBy, parseCertPem } from '../../drivers/pki/cert-info.ts';
import { newEcPrivateKeyPem } from '../../drivers/pki/key-files.ts';
import { createCsr } from '../../drivers/pki/openssl-csr.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { createHttpsFetch } from './https-fetch.ts';
import { NodeIdentityStore, type NodeIdentity } from './node-identity.ts';
import { fetchServerCa, sameFingerprint } from './pinned-ca.ts';

export interface JoinHostOptions {
  coordinatorUrl: string;
  /** The one-time join token; sent once, never logged or stored. */
  token: string;
  nodeId: string;
  facts: Omit<RegisterNodeRequest, 'labels'> & { labels?: Record<string, string> };
  /** For https: the coordinator's CA, or its fingerprint; neither = trust on first use. */
  trust: { caPem?: string; caFingerprint?: string };
  dataDir: string;
  runner: ProcessRunner;
}

export interface JoinedHost {
  identity: NodeIdentity;
  node: NodeView;
  /** True when the CA was taken from the coordinator unchecked (dev only). */
  trustedOnFirstUse: boolean;
}

async function transportFor(options: JoinHostOptions) {
  if (!options.coordinatorUrl.startsWith('https:')) {
    return { fetch: undefined, caPem: undefined, tofu: false };
  }
  const caPem =
    options.trust.caPem ??
    (await fetchServerCa(options.coordinatorUrl, options.trust.caFingerprint));
  const fetch: FetchLike = createHttpsFetch(() => ({ caPem }));
  return { fetch, caPem, tofu: options.trust.caPem === undefined && !options.trust.caFingerprint };
}

/**
 * Joins this host: a fresh EC P-256 key that never leaves it, a CSR, and the one-time token
 * exchanged for a certificate over a connection verified against the coordinator's CA. The
 * answer is checked (our CA, our node, our key) before anything is saved.
 */
export async function joinHost(options: JoinHostOptions): Promise<JoinedHost> {
  const keyPem = newEcPrivateKeyPem();
  const csrPem = await createCsr(options.runner, keyPem, options.nodeId);
  const transport = await transportFor(options);
  const client = createApiClient({
    baseUrl: options.coordinatorUrl,
    ...(transport.fetch ? { fetch: transport.fetch } : {}),
  });
  const result = await client.call('joinNode', {
    body: { ...options.facts, token: options.token, nodeId: options.nodeId, csrPem },
  });
  const { certificatePem, caCertificatePem } = result.certificate;
  checkIssued(options, certificatePem, caCertificatePem, transport.caPem);
  const identity: NodeIdentity = {
    nodeId: options.nodeId,
    coordinatorUrl: options.coordinatorUrl,
    caPem: caCertificatePem,
    certificatePem,
    keyPem,
    // What the fleet now knows this node by: the VXLAN source the agent must use.
    ...(result.node.underlayIp !== null ? { underlayIp: result.node.underlayIp } : {}),
  };
  await new NodeIdentityStore(options.dataDir).save(identity);
  return { identity, node: result.node, trustedOnFirstUse: transport.tofu };
}

function checkIssued(
  options: JoinHostOptions,
  certificatePem: string,
  caPem: string,
  verifiedCaPem: string | undefined,
): void {
  const problems: string[] = [];
  if (verifiedCaPem !== undefined && !samePem(verifiedCaPem, caPem)) {
    problems.push('the CA in the answer is not the one the connection was verified against');
  }
  if (
    options.trust.caFingerprint !== undefined &&
    !fingerprintMatches(caPem, options.trust.caFingerprint)
  ) {
    problems.push('the CA does not match --ca-fingerprint');
  }
  if (!issuedBy(certificatePem, caPem)) problems.push('the certificate was not issued by the CA');
  if (parseCertPem(certificatePem).nodeId !== options.nodeId) {
    problems.push(`the certificate does not name node '${options.nodeId}'`);
  }
  if (problems.length > 0) {
    throw new ValidationError(
      'the coordinator answered the join with an unusable certificate',
      problems,
    );
  }
}

function samePem(a: string, b: string): boolean {
  return parseCertPem(a).fingerprint === parseCertPem(b).fingerprint;
}

function fingerprintMatches(caPem: string, expected: string): boolean {
  return sameFingerprint(parseCertPem(caPem).fingerprint, expected);
}
