import { X509Certificate } from 'node:crypto';
import { PermissionDeniedError, UnauthenticatedError } from '../core/errors.ts';
import { certInfo } from '../drivers/pki/cert-info.ts';
import type { Clock } from '../ports/clock.ts';
import type { Store } from '../ports/store.ts';
import type { NodePrincipal } from './principal.ts';

/** What the TLS layer saw of the client's certificate (see serve.ts). */
export interface PeerCertificate {
  /** Chains to our CA and is within its validity, as OpenSSL judged at the handshake. */
  authorized: boolean;
  authorizationError?: string;
  der: Buffer;
}

const REJOIN = "re-join the host with 'mvm node join-token' and 'mvm add host'";

function refusedAtHandshake(peer: PeerCertificate): UnauthenticatedError {
  const reason =
    peer.authorizationError === 'CERT_HAS_EXPIRED'
      ? 'it has expired'
      : `it was not issued by this coordinator's CA (${peer.authorizationError ?? 'unverified'})`;
  return new UnauthenticatedError(`client certificate refused: ${reason}; ${REJOIN}`);
}

/**
 * Turns a client certificate into a node principal for a node-scoped route. The handshake
 * proves the chain; on top of that the certificate must still be valid now (a keep-alive
 * connection can outlive it), its serial must be one we issued and not revoked, and it must
 * name the node in the path.
 */
export async function authenticateNode(
  deps: { store: Store; clock: Clock },
  peer: PeerCertificate,
  pathNodeId: string | undefined,
): Promise<NodePrincipal> {
  if (!peer.authorized) throw refusedAtHandshake(peer);
  const info = certInfo(new X509Certificate(peer.der));
  const now = deps.clock.now();
  if (now > info.notAfter || now < info.notBefore) {
    throw new UnauthenticatedError(`client certificate refused: it is not valid now; ${REJOIN}`);
  }
  if (info.nodeId === undefined) {
    throw new UnauthenticatedError('client certificate refused: it names no mvm node');
  }
  const record = await deps.store.authCertificate(info.serial);
  if (!record || record.fingerprint !== info.fingerprint || record.nodeId !== info.nodeId) {
    throw new UnauthenticatedError(
      `client certificate refused: this coordinator never issued it; ${REJOIN}`,
    );
  }
  if (record.revokedAt !== null) {
    throw new UnauthenticatedError(
      `client certificate refused: node '${info.nodeId}' was revoked; ${REJOIN}`,
    );
  }
  if (pathNodeId !== info.nodeId) {
    throw new PermissionDeniedError(
      `the certificate of node '${info.nodeId}' cannot act for node '${pathNodeId ?? '-'}'`,
    );
  }
  return { kind: 'node', nodeId: info.nodeId, serial: info.serial };
}
