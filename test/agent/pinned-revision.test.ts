/**
 * A rollout pins instances to a revision in the node's document. The agent restarts a live VM
 * (or snapshot) of another revision on it; the pool's revision alone waits for the next boot,
 * and a live record keeps naming the revision its VM booted, so reports stay true.
 */
import { describe, expect, it } from 'vitest';
import { documentInstances, observe } from '../../src/agent/reconcile/document-instances.ts';
import { specChange } from '../../src/agent/runtime/spec-change.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { NODE_DOCUMENT_SCHEMA } from '../../src/core/desired-doc.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import type { InstanceStatus } from '../../src/core/model.ts';

const R1 = 'a'.repeat(64);
const R2 = 'b'.repeat(64);

function doc(poolRevision: string, pinned?: string): NodeDesired {
  return {
    schema: NODE_DOCUMENT_SCHEMA,
    nodeId: 'node-a',
    generation: 1,
    issuedAt: new Date().toISOString(),
    tenants: [
      {
        id: 't1',
        netId: 7,
        subnet: '10.240.7.0/24',
        gateway: '10.240.7.1',
        vxlanPeers: [],
        egress: false,
        pools: [
          {
            id: 'web',
            role: 'worker',
            flake: null,
            profile: null,
            revision: poolRevision,
            vcpus: 1,
            memMib: 256,
            dataDiskMib: 16,
            pinned: false,
            critical: false,
            secretsDigest: null,
            config: null,
            instances: [
              {
                id: 'web-a',
                ip: '10.240.7.2',
                mac: '52:54:00:00:07:02',
                desiredStatus: 'running',
                ...(pinned ? { revision: pinned } : {}),
              },
            ],
          },
        ],
      },
    ],
  };
}

function record(status: InstanceStatus, revision: string, live: boolean): VmRecord {
  return {
    key: 't1-web-web-a',
    tenantId: 't1',
    poolId: 'web',
    instanceId: 'web-a',
    spec: {
      role: 'worker',
      vcpus: 1,
      memMib: 256,
      dataDiskMib: 16,
      ip: '10.240.7.2',
      prefixLength: 24,
      gateway: '10.240.7.1',
      mac: '52:54:00:00:07:02',
      tap: 'mvt7-2',
      revision,
      network: true,
      tenant: { netId: 7, subnet: '10.240.7.0/24', gateway: '10.240.7.1', egress: false },
      secretsVersion: 1,
    },
    secrets: {},
    config: null,
    status,
    intent: null,
    handle: live
      ? {
          key: 't1-web-web-a',
          driver: 'qemu' as const,
          pid: 4242,
          controlSocket: '/x',
          guestSocket: '/y',
          workDir: '/w',
        }
      : null,
    snapshot: null,
    failureReason: null,
    createdAt: '2026-12-03T00:00:00.000Z',
    updatedAt: '2026-12-03T00:00:00.000Z',
    version: 1,
  };
}

describe('pinned revisions on the agent', () => {
  it('a running VM of another revision is restarted when pinned, not when only the pool moved', () => {
    const running = record('running', R1, true);
    const pinned = documentInstances(doc(R2, R2));
    expect(observe([running], pinned)[0]).toMatchObject({ restart: true });
    const poolOnly = documentInstances(doc(R2));
    const seen = observe([running], poolOnly)[0];
    expect(seen?.restart).toBeUndefined();
    // The live VM runs R1: the record keeps saying so until it boots again.
    expect(seen?.specCurrent).toBe(true);
  });

  it('a pinned VM already on the revision, or a stopped record, is not restarted', () => {
    expect(
      observe([record('running', R2, true)], documentInstances(doc(R2, R2)))[0]?.restart,
    ).toBeUndefined();
    const stopped = observe([record('stopped', R1, false)], documentInstances(doc(R2, R2)))[0];
    expect(stopped?.restart).toBeUndefined();
    expect(stopped?.specCurrent).toBe(false);
  });

  it('a put keeps a live record’s revision and takes the new one once nothing runs', () => {
    const body = documentInstances(doc(R2)).get('t1/web/web-a')?.body;
    if (!body) throw new Error('the document names the instance');
    expect(specChange(record('running', R1, true), body)).toBeUndefined();
    expect(specChange(record('stopped', R1, false), body)?.spec?.revision).toBe(R2);
  });
});
