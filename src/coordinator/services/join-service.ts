import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import {
  ConflictError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
} from '../../core/errors.ts';
import type { FleetNode } from '../../core/model.ts';
import type { CreateJoinTokenRequest, JoinNodeRequest, JoinResult } from '../../contract/join.ts';
import type { NodeCertificateView } from '../../contract/join.ts';
import type { CertificateAuthority } from '../../ports/certificate-authority.ts';
import type { JoinTokenRecord, Repos } from '../../ports/store.ts';
import { nodeUri } from '../../drivers/pki/cert-info.ts';
import type { NodePrincipal, Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { hashToken } from './token-service.ts';

export const DEFAULT_NODE_CERT_VALIDITY_MS = 30 * 24 * 3600 * 1000;
/** Tolerates clocks a little behind ours without stretching short test validities much. */
const MAX_BACKDATE_MS = 5 * 60 * 1000;

export interface JoinDeps {
  /** The coordinator's CA; without one, joining and rotation answer 503. */
  ca?: CertificateAuthority;
  nodeCertValidityMs?: number;
}

// One message for unknown, used, expired and wrong-node tokens: a guesser learns nothing.
const TOKEN_REFUSED =
  "join token refused: it is unknown, already used, expired or issued for another node; issue a new one with 'mvm node join-token' on the coordinator";

export function newJoinTokenSecret(): string {
  return `mvmj_${randomBytes(32).toString('base64url')}`;
}

/** One-time join tokens in exchange for node certificates; rotation and revocation. */
export class JoinService {
  constructor(
    private readonly deps: ServiceDeps & JoinDeps,
    private readonly after: Pick<AfterWrite, 'place'>,
  ) {}

  async issueToken(principal: Principal, request: CreateJoinTokenRequest) {
    const ca = this.requireCa();
    const secret = newJoinTokenSecret();
    const now = this.deps.clock.now();
    const record: JoinTokenRecord = {
      id: randomUUID(),
      hash: hashToken(secret),
      nodeId: request.nodeId ?? null,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + request.ttlSeconds * 1000).toISOString(),
      usedAt: null,
    };
    await this.deps.store.transaction(async (repos) => {
      await repos.joinTokens.insert(record);
      await audit(repos, this.deps, principal, {
        tenantId: null,
        action: 'node.join-token.issue',
        target: record.id,
        detail: { nodeId: record.nodeId, expiresAt: record.expiresAt },
      });
    });
    const caFingerprint = new X509Certificate(ca.caCertificatePem).fingerprint256;
    const { id, nodeId, expiresAt } = record;
    return { id, nodeId, expiresAt, token: secret, caFingerprint };
  }

  /**
   * Checks the token before any signing (a forged token costs one read), signs outside the
   * transaction, then uses the token by compare-and-set in the transaction that records the
   * certificate and the node: a refused join leaves the token and the fleet as they were.
   */
  async join(request: JoinNodeRequest): Promise<JoinResult> {
    const ca = this.requireCa();
    const token = await this.deps.store.joinTokens.findByHash(hashToken(request.token));
    if (!this.usable(token, request.nodeId)) throw new UnauthenticatedError(TOKEN_REFUSED);
    await this.refuseTakeover(this.deps.store, token, request.nodeId);
    const certificate = await this.sign(ca, request.nodeId, request.csrPem);
    const node = await this.deps.store.transaction(async (repos) => {
      const at = this.deps.clock.now().toISOString();
      if (!(await repos.joinTokens.consume(token.id, request.nodeId, at))) {
        throw new UnauthenticatedError(TOKEN_REFUSED);
      }
      await this.refuseTakeover(repos, token, request.nodeId);
      await this.record(repos, request.nodeId, certificate);
      const joined = await this.upsertNode(repos, request, at);
      await audit(repos, this.deps, nodePrincipal(request.nodeId, certificate.serial), {
        tenantId: null,
        action: 'node.join',
        target: request.nodeId,
        detail: { joinToken: token.id, serial: certificate.serial },
      });
      await markDocuments(repos, { fleet: true });
      return joined;
    });
    // A (re-)joined node is ready, perhaps at a new address: placement and peers follow.
    await this.after.place({ fleet: true });
    return { node, certificate };
  }

  /** A node renews its own certificate, proven by its current one. */
  async rotate(principal: NodePrincipal, csrPem: string) {
    const { nodeId } = principal;
    const certificate = await this.sign(this.requireCa(), nodeId, csrPem);
    await this.deps.store.transaction(async (repos) => {
      await this.record(repos, nodeId, certificate);
      await audit(repos, this.deps, principal, {
        tenantId: null,
        action: 'node.certificate.rotate',
        target: nodeId,
        detail: { previous: principal.serial, serial: certificate.serial },
      });
    });
    return certificate;
  }

  /** Revokes every certificate of the node and cordons it, so nothing new lands there. */
  async revoke(principal: Principal, nodeId: string) {
    return this.deps.store.transaction(async (repos) => {
      const existing = await repos.nodes.get(nodeId);
      if (!existing) throw new NotFoundError('node', nodeId, "see 'mvm node list'");
      const at = this.deps.clock.now().toISOString();
      const revokedCertificates = await repos.nodeCertificates.revokeNode(nodeId, at);
      const node = await repos.nodes.upsert({ ...existing, status: 'cordoned', lostFrom: null });
      await audit(repos, this.deps, principal, {
        tenantId: null,
        action: 'node.revoke',
        target: nodeId,
        detail: { revokedCertificates },
      });
      return { node, revokedCertificates };
    });
  }

  private requireCa(): CertificateAuthority {
    if (this.deps.ca === undefined) {
      throw new UnavailableError(
        'this coordinator has no certificate authority; start it with `mvm coordinator serve` to join hosts',
      );
    }
    return this.deps.ca;
  }

  private usable(token: JoinTokenRecord | undefined, nodeId: string): token is JoinTokenRecord {
    if (token === undefined || token.usedAt !== null) return false;
    if (token.expiresAt <= this.deps.clock.now().toISOString()) return false;
    return token.nodeId === null || token.nodeId === nodeId;
  }

  /** An unbound token joins new nodes only: taking over a node needs a token issued for it. */
  private async refuseTakeover(repos: Pick<Repos, 'nodes'>, token: JoinTokenRecord, id: string) {
    if (token.nodeId !== null || !(await repos.nodes.get(id))) return;
    throw new ConflictError(
      `node '${id}' is already registered; to re-join it issue a token for it with 'mvm node join-token --node ${id}'`,
      { nodeId: id },
    );
  }

  private async sign(
    ca: CertificateAuthority,
    nodeId: string,
    csrPem: string,
  ): Promise<NodeCertificateView> {
    const validity = this.deps.nodeCertValidityMs ?? DEFAULT_NODE_CERT_VALIDITY_MS;
    const now = this.deps.clock.now().getTime();
    const issued = await ca.sign({
      csrPem,
      commonName: nodeId,
      altNames: [nodeUri(nodeId), `DNS:${nodeId}`],
      usage: 'client',
      notBefore: new Date(now - Math.min(MAX_BACKDATE_MS, validity / 10)),
      notAfter: new Date(now + validity),
    });
    return { nodeId, ...issued, caCertificatePem: ca.caCertificatePem };
  }

  private async record(repos: Repos, nodeId: string, cert: NodeCertificateView): Promise<void> {
    await repos.nodeCertificates.insert({
      serial: cert.serial,
      nodeId,
      fingerprint: cert.fingerprint,
      notAfter: cert.notAfter,
      issuedAt: this.deps.clock.now().toISOString(),
      revokedAt: null,
    });
  }

  /** A (re-)joined node is ready: the admin consented by issuing the token. */
  private async upsertNode(repos: Repos, request: JoinNodeRequest, at: string): Promise<FleetNode> {
    const existing = await repos.nodes.get(request.nodeId);
    return repos.nodes.upsert({
      id: request.nodeId,
      hostname: request.hostname,
      arch: request.arch,
      capacity: request.capacity,
      labels: request.labels,
      status: 'ready',
      lastHeartbeat: at,
      underlayIp: request.underlayIp ?? existing?.underlayIp ?? null,
      usage: existing?.usage ?? null,
      createdAt: existing?.createdAt ?? at,
      version: existing?.version ?? 1,
    });
  }
}

function nodePrincipal(nodeId: string, serial: string): NodePrincipal {
  return { kind: 'node', nodeId, serial };
}
