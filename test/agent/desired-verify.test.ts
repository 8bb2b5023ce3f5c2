import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DesiredFileStore } from '../../src/agent/desired/desired-file-store.ts';
import { DesiredMarkFile } from '../../src/agent/desired/desired-mark-file.ts';
import {
  DesiredRefusedError,
  keyIdOfPem,
  verifyEnvelope,
  type VerifyOptions,
} from '../../src/agent/desired/verify-desired.ts';
import { watchDesired } from '../../src/agent/desired/watch-desired.ts';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import { ephemeralSigningKey, type SigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { canonicalJson } from '../../src/core/desired-doc.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { serveTestCoordinator } from '../support/served-coordinator.ts';

const coordinatorKey = ephemeralSigningKey();
const strangerKey = ephemeralSigningKey();

const ISSUED = '2026-01-01T00:00:00.000Z';
const MINUTE = 60_000;

function doc(generation: number, nodeId = 'node-1', issuedAt = ISSUED): NodeDesired {
  return {
    schema: 'mvm.node-desired/v1',
    nodeId,
    generation,
    issuedAt,
    tenants: [
      {
        id: 'acme',
        netId: 7,
        subnet: '10.240.7.0/24',
        gateway: '10.240.7.1',
        vxlanPeers: [],
        egress: false,
        pools: [
          {
            id: 'workers',
            role: 'worker',
            flake: '.',
            profile: 'minimal',
            revision: null,
            vcpus: 1,
            memMib: 512,
            dataDiskMib: 1024,
            pinned: false,
            critical: false,
            secretsDigest: null,
            config: null,
            instances: [
              {
                id: 'workers-a',
                ip: '10.240.7.3',
                mac: '02:6d:76:00:07:03',
                desiredStatus: 'running',
              },
            ],
          },
        ],
      },
    ],
  };
}

function signed(document: NodeDesired, key: SigningKey = coordinatorKey): SignedEnvelope {
  const payload = canonicalJson(document);
  return { payload, signature: key.sign(payload), keyId: key.keyId };
}

const options: VerifyOptions = {
  trustedKeys: [coordinatorKey.publicKeyPem],
  lastGeneration: 4,
  production: true,
  nodeId: 'node-1',
};

function refusal(envelope: unknown, overrides: Partial<VerifyOptions> = {}): string {
  try {
    verifyEnvelope(envelope, { ...options, ...overrides });
  } catch (error) {
    if (error instanceof DesiredRefusedError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('desired-state verification', () => {
  it('accepts a newer document signed by a trusted key', () => {
    const verified = verifyEnvelope(signed(doc(5)), options);
    expect(verified.document).toEqual(doc(5));
    expect(verified.keyId).toBe(coordinatorKey.keyId);
    expect(verified.warnings).toEqual([]);
    expect(keyIdOfPem(coordinatorKey.publicKeyPem)).toBe(coordinatorKey.keyId);
  });

  it('refuses forged, tampered, unknown-signer, unsigned, replayed and misaddressed documents', () => {
    const good = signed(doc(5));
    // Signed by another key but claiming the trusted key's id.
    expect(refusal({ ...signed(doc(5), strangerKey), keyId: coordinatorKey.keyId })).toBe(
      'bad_signature',
    );
    const tampered = good.payload.replace('"running"', '"destroyed"');
    expect(tampered).not.toBe(good.payload);
    expect(refusal({ ...good, payload: tampered })).toBe('bad_signature');
    expect(refusal({ ...good, signature: Buffer.alloc(64).toString('base64') })).toBe(
      'bad_signature',
    );
    expect(refusal(signed(doc(5), strangerKey))).toBe('unknown_signer');
    expect(refusal(good, { trustedKeys: [] })).toBe('unknown_signer');
    expect(refusal({ payload: good.payload })).toBe('unsigned');
    expect(refusal(signed(doc(4)))).toBe('replay');
    expect(refusal(signed(doc(3)))).toBe('replay');
    expect(refusal(signed(doc(5, 'node-2')))).toBe('wrong_node');
    expect(refusal({ ...good, extra: 1 })).toBe('malformed');
    expect(refusal(signed({ ...doc(5), schema: 'other' } as unknown as NodeDesired))).toBe(
      'malformed',
    );
  });

  it('accepts unsigned documents only in dev mode, and says so', () => {
    const verified = verifyEnvelope(
      { payload: canonicalJson(doc(5)) },
      { ...options, production: false },
    );
    expect(verified.keyId).toBeUndefined();
    expect(verified.warnings.join()).toMatch(/UNSIGNED/);
    // Dev mode relaxes the signature requirement, not the replay check.
    expect(refusal({ payload: canonicalJson(doc(4)) }, { production: false })).toBe('replay');
  });
});

describe('desired-state freshness (replays of old signed documents)', () => {
  const at = (ms: number) => new Date(Date.parse(ISSUED) + ms).toISOString();
  const aged = { maxAgeMs: 10 * MINUTE };

  it('refuses a document signed longer ago than the bound, or too far in the future', () => {
    const good = signed(doc(5));
    expect(refusal(good, { ...aged, nowMs: Date.parse(ISSUED) + 9 * MINUTE })).toBe('accepted');
    expect(refusal(good, { ...aged, nowMs: Date.parse(ISSUED) + 11 * MINUTE })).toBe('stale');
    expect(refusal(good, { ...aged, nowMs: Date.parse(ISSUED) - 11 * MINUTE })).toBe('stale');
    // No bound: the agent's own saved document, read back at a restart.
    expect(refusal(good, { nowMs: Date.parse(ISSUED) + 999 * MINUTE })).toBe('accepted');
    try {
      verifyEnvelope(good, { ...options, ...aged, nowMs: Date.parse(ISSUED) + 60 * MINUTE });
      expect.unreachable('a stale document was accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(DesiredRefusedError);
      expect((error as Error).message).toMatch(
        /issued at 2026-01-01T00:00:00.000Z, 3600 s ago, over the 600 s \(maxDocumentAgeSecs\)/,
      );
    }
  });

  it('refuses one signed before the accepted one, or below the coordinator generation', () => {
    expect(refusal(signed(doc(6, 'node-1', at(-1))), { lastIssuedAt: ISSUED })).toBe('replay');
    expect(refusal(signed(doc(6, 'node-1', at(1))), { lastIssuedAt: ISSUED })).toBe('accepted');
    expect(refusal(signed(doc(5)), { minGeneration: 6 })).toBe('replay');
    expect(refusal(signed(doc(6)), { minGeneration: 6 })).toBe('accepted');
    expect(refusal(signed(doc(5, 'node-1', 'yesterday')))).toBe('malformed');
  });

  it('keeps its mark on disk, apart from the document, and never moves it back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-mark-'));
    try {
      const path = join(dir, 'desired-mark.json');
      const marks = await DesiredMarkFile.open(path);
      expect(marks.current).toEqual({ generation: 0, coordinatorGeneration: 0 });
      await marks.accepted({ generation: 7, issuedAt: at(5) });
      await marks.accepted({ generation: 3, issuedAt: at(1) });
      await marks.coordinatorIssued(9);
      await marks.coordinatorIssued(2);
      const reopened = await DesiredMarkFile.open(path);
      expect(reopened.current).toEqual({
        generation: 7,
        issuedAt: at(5),
        coordinatorGeneration: 9,
      });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      await writeFile(path, '{"generation":"x"}');
      await expect(DesiredMarkFile.open(path)).rejects.toThrow(/document mark .* is damaged/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('desired-state persistence and watch', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-desired-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it('reloads the last accepted envelope after a restart, verified again', async () => {
    const file = join(await tempDir(), 'desired.json');
    expect(await new DesiredFileStore(file).load()).toBeUndefined();
    await new DesiredFileStore(file).save(signed(doc(5)));
    await new DesiredFileStore(file).save(signed(doc(6)));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const restarted = new DesiredFileStore(file);
    const loaded = await restarted.loadVerified({
      trustedKeys: [coordinatorKey.publicKeyPem],
      production: true,
      nodeId: 'node-1',
    });
    expect(loaded?.document).toEqual(doc(6));
    await expect(
      restarted.loadVerified({
        trustedKeys: [strangerKey.publicKeyPem],
        production: true,
        nodeId: 'node-1',
      }),
    ).rejects.toThrow(DesiredRefusedError);
  });

  it('keeps watching across a coordinator restart on the same port', async () => {
    const dir = await tempDir();
    const coordinator = await serveTestCoordinator({
      dir,
      adminToken: '7beb6565d8cd82750df10ed557c80528527d6f2f716237177b8f5e91e2299d07',
      // No agent heartbeats here: keep the node from being declared lost on a slow run.
      nodeLostAfterMs: 3_600_000,
      restartable: true,
    });
    cleanups.push(() => coordinator.close());
    const { url, adminToken } = coordinator;
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${url}/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          'content-type': 'application/json',
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(response.ok).toBe(true);
      return (await response.json()) as Record<string, unknown>;
    };
    await api('POST', '/tenants', { id: 'acme', netId: 7, subnet: '10.240.7.0/24' });
    await api('POST', '/tenants/acme/pools', {
      id: 'workers',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 512,
    });
    await api('PUT', '/nodes/node-1', {
      hostname: 'kvm-1',
      arch: 'x86_64',
      capacity: { vcpus: 8, memMib: 8192, diskGib: 10 },
    });
    const trusted = String((await api('GET', '/signing-key')).publicKeyPem);
    expect((await stat(join(dir, 'signing.key'))).mode & 0o777).toBe(0o600);

    const seen: NodeDesired[] = [];
    const errors: unknown[] = [];
    const stop = new AbortController();
    const file = new DesiredFileStore(join(dir, 'agent-desired.json'));
    const watching = watchDesired({
      api: coordinator.api,
      nodeId: 'node-1',
      trustedKeys: [trusted],
      production: true,
      lastGeneration: 0,
      waitMs: 5_000,
      backoff: { initialMs: 20, maxMs: 100 },
      clock: systemClock,
      signal: stop.signal,
      onDocument: async (verified, envelope) => {
        await file.save(envelope);
        seen.push(verified.document);
      },
      onError: (error) => errors.push(error),
    });
    cleanups.push(async () => {
      stop.abort();
      await watching;
    });
    await until(() => seen.length === 1);
    expect(seen[0]?.tenants).toEqual([]);

    await coordinator.stop();
    await until(() => errors.length >= 2); // it keeps trying while nobody answers
    await coordinator.start();
    await api('POST', '/tenants/acme/pools/workers/scale', { running: 2 });
    await until(() => seen.length === 2);
    // The restarted coordinator kept its signing key, so the agent still trusts it.
    expect(seen[1]?.generation).toBe(2);
    expect(seen[1]?.tenants[0]?.pools[0]?.instances).toHaveLength(2);
    const persisted = await file.loadVerified({
      trustedKeys: [trusted],
      production: true,
      nodeId: 'node-1',
    });
    expect(persisted?.document.generation).toBe(2);
  });
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
