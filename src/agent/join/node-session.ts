import { X509Certificate } from 'node:crypto';
import { UnavailableError, ValidationError } from '../../core/errors.ts';
import { createApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { issuedBy, parseCertPem } from '../../drivers/pki/cert-info.ts';
import { newEcPrivateKeyPem } from '../../drivers/pki/key-files.ts';
import { createCsr } from '../../drivers/pki/openssl-csr.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { createHttpsFetch, type HttpsFetch, type TlsMaterial } from './https-fetch.ts';
import { NodeIdentityStore, type NodeIdentity } from './node-identity.ts';

/** Renew once less than this share of the certificate's lifetime is left. */
const RENEW_WHEN_LEFT = 1 / 3;

export function renewalDue(certificatePem: string, now: Date): boolean {
  const cert = new X509Certificate(certificatePem);
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  return to - now.getTime() < (to - from) * RENEW_WHEN_LEFT;
}

/**
 * A joined agent's link to its coordinator: a `fetch` that presents the node's current
 * certificate (mTLS both ways) and renewal that swaps in a new certificate without a
 * restart. The old certificate stays valid until it expires, so requests in flight finish.
 */
export class NodeSession {
  readonly fetch: HttpsFetch;

  private constructor(
    private identity: NodeIdentity,
    private readonly store: NodeIdentityStore,
    private readonly runner: ProcessRunner,
  ) {
    this.fetch = createHttpsFetch(() => this.tlsMaterial());
  }

  /** The material new connections use now (a copy: a renewal does not change it). */
  tlsMaterial(): TlsMaterial {
    const { caPem, certificatePem, keyPem } = this.identity;
    return { caPem, certificatePem, keyPem };
  }

  static async open(dataDir: string, runner: ProcessRunner): Promise<NodeSession> {
    const store = new NodeIdentityStore(dataDir);
    const identity = await store.load();
    if (identity === undefined) {
      throw new UnavailableError(
        `this host has not joined a coordinator (no identity in ${store.dir}); run 'mvm add host' first`,
      );
    }
    return new NodeSession(identity, store, runner);
  }

  get nodeId(): string {
    return this.identity.nodeId;
  }

  get baseUrl(): string {
    return this.identity.coordinatorUrl;
  }

  get certificatePem(): string {
    return this.identity.certificatePem;
  }

  /** The underlay address the coordinator recorded for this node at join, if any. */
  get underlayIp(): string | undefined {
    return this.identity.underlayIp;
  }

  /** Renews when due; true when it did. */
  async renewIfDue(now: Date): Promise<boolean> {
    if (!renewalDue(this.identity.certificatePem, now)) return false;
    await this.renew();
    return true;
  }

  /** A new key and certificate, asked for with the current certificate, saved, then used. */
  async renew(): Promise<void> {
    const keyPem = newEcPrivateKeyPem();
    const csrPem = await createCsr(this.runner, keyPem, this.identity.nodeId);
    const client = createApiClient({ baseUrl: this.baseUrl, fetch: this.fetch });
    const issued = await client.call('rotateNodeCertificate', {
      params: { node: this.identity.nodeId },
      body: { csrPem },
    });
    const next: NodeIdentity = { ...this.identity, certificatePem: issued.certificatePem, keyPem };
    if (
      !issuedBy(next.certificatePem, this.identity.caPem) ||
      parseCertPem(next.certificatePem).nodeId !== this.identity.nodeId
    ) {
      throw new ValidationError('the renewed certificate is not from our CA or not for this node');
    }
    await this.store.save(next);
    this.identity = next;
  }

  /** Checks every `everyMs` until `signal` aborts; failures are reported and retried. */
  async keepRenewed(options: {
    clock: Clock;
    signal: AbortSignal;
    everyMs: number;
    onError?: (error: unknown) => void;
  }): Promise<void> {
    while (!options.signal.aborted) {
      await this.renewIfDue(options.clock.now()).catch((error: unknown) =>
        options.onError?.(error),
      );
      await abortableSleep(options.clock, options.everyMs, options.signal);
    }
  }
}
