/**
 * A pass compares each record with its document entry (a zod parse of the spec) once per entry
 * and record version: an unchanged tenant of the next document is the same object, so a toggle
 * costs one comparison, not one per instance. A record that changed is compared again.
 */
import { describe, expect, it } from 'vitest';
import { documentInstances, observe } from '../../src/agent/reconcile/document-instances.ts';
import { newRecordFields } from '../../src/agent/runtime/spec-change.ts';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';

function document(): NodeDesired {
  const instance = { id: 'a1', ip: '10.240.9.10', mac: '52:54:00:00:09:10' };
  const pool = { id: 'web', role: 'worker', vcpus: 1, memMib: 256, dataDiskMib: 16 };
  const tenant = { id: 'acme', netId: 9, subnet: '10.240.9.0/24', gateway: '10.240.9.1' };
  return {
    tenants: [
      {
        ...tenant,
        egress: true,
        pools: [
          {
            ...pool,
            secretsDigest: null,
            pinned: false,
            instances: [{ ...instance, desiredStatus: 'running' }],
          },
        ],
      },
    ],
  } as unknown as NodeDesired;
}

function recordFor(doc: NodeDesired, version: number): VmRecord {
  const [n] = documentInstances(doc).values();
  if (!n) throw new Error('no instance');
  const key = vmKey('acme', 'web', 'a1');
  const at = '2026-12-06T00:00:00.000Z';
  return {
    key,
    tenantId: 'acme',
    poolId: 'web',
    instanceId: 'a1',
    ...newRecordFields(key, n.body),
    status: 'running',
    intent: null,
    handle: null,
    snapshot: null,
    failureReason: null,
    createdAt: at,
    updatedAt: at,
    version,
  };
}

const current = (record: VmRecord, doc: NodeDesired) =>
  observe([record], documentInstances(doc))[0]?.specCurrent;

describe('observe, remembered by entry and record version', () => {
  it('compares a record again once its version moved', () => {
    const doc = document();
    const record = recordFor(doc, 1);
    expect(current(record, doc)).toBe(true);
    const changed = { ...record, spec: { ...record.spec, memMib: 512 }, version: 2 };
    expect(current(changed, doc)).toBe(false);
    expect(current({ ...record, version: 3 }, doc)).toBe(true);
  });

  it('compares a new entry with the same content afresh', () => {
    const doc = document();
    const record = recordFor(doc, 1);
    expect(current(record, doc)).toBe(true);
    const other = document();
    const pool = other.tenants[0]?.pools[0];
    if (pool) (pool as { memMib: number }).memMib = 512;
    expect(current(record, other)).toBe(false);
  });

  it('answers from memory for the same entry and version', () => {
    const doc = document();
    const record = recordFor(doc, 1);
    expect(current(record, doc)).toBe(true);
    // Never done by the runtime (every change moves the version): shows who answered.
    const unbumped = { ...record, spec: { ...record.spec, memMib: 512 } };
    expect(current(unbumped, doc)).toBe(true);
  });
});
