/**
 * A pass after a toggle plans only what is not already where the document wants it: the
 * unchanged tenants of a verified document are the previous document's objects, their entries
 * are made once, and their records, at their wanted status with the document's spec, are
 * reported as they are without going through the planner. Every instance is still reported
 * and listed in the pass's steps; the lease, a runtime that wants another status than the
 * document (a recent wake) and a record the document no longer names still count.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { documentInstances } from '../../src/agent/reconcile/document-instances.ts';
import { reconcileDocument } from '../../src/agent/reconcile/reconcile-document.ts';
import type { InstanceRef } from '../../src/agent/runtime/instance-runtime.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import type { LeaseState } from '../../src/core/node-lease.ts';
import type { DesiredStatus } from '../../src/core/model.ts';
import { plan } from '../../src/core/reconcile-plan.ts';
import { MemoryRuntime } from './memory-runtime.ts';

vi.mock('../../src/core/reconcile-plan.ts', async (importOriginal) => {
  const actual: { plan: typeof plan } = await importOriginal();
  return { ...actual, plan: vi.fn(actual.plan) };
});

const TENANTS = 50;
type Tenant = NodeDesired['tenants'][number];

/** Tenant `i` with two worker instances at the given statuses. */
function tenant(i: number, statuses: readonly DesiredStatus[] = ['running', 'running']): Tenant {
  const octet = (n: number) => n.toString(16).padStart(2, '0');
  return {
    id: `t${i}`,
    netId: 100 + i,
    subnet: `10.9.${i}.0/24`,
    gateway: `10.9.${i}.1`,
    egress: true,
    vxlanPeers: [],
    pools: [
      {
        id: 'w',
        role: 'worker',
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 16,
        secretsDigest: null,
        pinned: false,
        revision: 'r1',
        instances: statuses.map((desiredStatus, j) => ({
          id: `i${j}`,
          ip: `10.9.${i}.${10 + j}`,
          mac: `52:54:00:00:${octet(i)}:${octet(j)}`,
          desiredStatus,
        })),
      },
    ],
  } as unknown as Tenant;
}

const documentOf = (tenants: readonly Tenant[]) => ({ tenants: [...tenants] }) as NodeDesired;

/** What the planner was last given: the instances it was asked to plan and the records. */
function planned(): { desired: string[]; observed: string[] } {
  const [desired, observed] = vi.mocked(plan).mock.lastCall ?? [[], []];
  return { desired: desired.map((d) => d.instance), observed: observed.map((o) => o.instance) };
}

async function converged(runtime: MemoryRuntime, tenants: Tenant[], lease?: LeaseState) {
  const reported: string[] = [];
  const reporter = {
    report: async (ref: InstanceRef, status: string) => {
      reported.push(`${ref.tenantId}/${ref.poolId}/${ref.instanceId}:${status}`);
    },
  };
  const steps = await reconcileDocument({
    document: documentOf(tenants),
    runtime: runtime.asRuntime,
    reporter,
    ...(lease ? { lease } : {}),
  });
  return { steps, reported };
}

afterEach(() => vi.mocked(plan).mockClear());

describe('a toggle’s pass', () => {
  it('plans the toggled instance only, and still reports and lists every instance', async () => {
    const runtime = new MemoryRuntime();
    const tenants = Array.from({ length: TENANTS }, (_, i) => tenant(i));
    await converged(runtime, tenants);
    expect(planned().desired).toHaveLength(TENANTS * 2);
    tenants[7] = tenant(7, ['warm', 'running']);
    const runsBefore = runtime.runs.length;

    const { steps, reported } = await converged(runtime, tenants);

    expect(planned()).toEqual({ desired: ['t7/w/i0'], observed: ['t7/w/i0'] });
    expect(runtime.runs.slice(runsBefore)).toEqual([{ instance: 't7/w/i0', kinds: ['pause'] }]);
    expect(steps).toHaveLength(TENANTS * 2);
    // Document order, the toggled one last: it is reported once its run is done.
    expect(steps.slice(0, 3).map((s) => s.instance)).toEqual(['t0/w/i0', 't0/w/i1', 't1/w/i0']);
    expect(steps.at(-1)).toEqual({ instance: 't7/w/i0', desired: 'warm', status: 'warm' });
    expect(reported).toHaveLength(TENANTS * 2);
    expect(reported).toContain('t7/w/i0:warm');
    expect(reported).toContain('t7/w/i1:running');
  });

  it('makes an unchanged tenant’s entries once, and a changed tenant’s again', () => {
    const tenants = Array.from({ length: 3 }, (_, i) => tenant(i));
    const before = documentInstances(documentOf(tenants));
    tenants[1] = tenant(1, ['warm', 'running']);
    const after = documentInstances(documentOf(tenants));
    expect(after.get('t0/w/i0')).toBe(before.get('t0/w/i0'));
    expect(after.get('t2/w/i1')).toBe(before.get('t2/w/i1'));
    expect(after.get('t1/w/i1')).not.toBe(before.get('t1/w/i1'));
    expect(after.get('t1/w/i0')?.desired).toBe('warm');
  });

  it('keeps a woken instance up while the runtime says so, then lowers it', async () => {
    const runtime = new MemoryRuntime();
    const tenants = [tenant(0, ['warm', 'running'])];
    await converged(runtime, tenants);
    const woken = new Set(['i0']);
    runtime.desiredNow = (ref, desired) => (woken.has(ref.instanceId) ? 'running' : desired);
    await runtime.run({ tenantId: 't0', poolId: 'w', instanceId: 'i0' }, [
      { kind: 'resume', instance: 't0/w/i0', from: 'warm', to: 'running' },
    ]);

    const held = await converged(runtime, tenants);
    expect(held.steps[0]).toEqual({ instance: 't0/w/i0', desired: 'running', status: 'running' });

    woken.clear();
    const lowered = await converged(runtime, tenants);
    expect(lowered.steps.at(-1)).toEqual({ instance: 't0/w/i0', desired: 'warm', status: 'warm' });
    expect(runtime.runs.at(-1)).toEqual({ instance: 't0/w/i0', kinds: ['pause'] });
  });

  it('pauses the running re-placeable instances once the lease expired', async () => {
    const runtime = new MemoryRuntime();
    const tenants = [tenant(0), tenant(1)];
    await converged(runtime, tenants);
    const runsBefore = runtime.runs.length;

    await converged(runtime, tenants, 'expired');

    expect(runtime.runs.slice(runsBefore).map((r) => r.instance)).toEqual([
      't0/w/i0',
      't0/w/i1',
      't1/w/i0',
      't1/w/i1',
    ]);
    expect(runtime.records.size).toBe(4);
    expect([...runtime.records.values()].map((r) => r.status)).toEqual(Array(4).fill('warm'));
  });

  it('destroys a record the document no longer names, beside the settled ones', async () => {
    const runtime = new MemoryRuntime();
    const tenants = [tenant(0), tenant(1)];
    await converged(runtime, tenants);

    const { steps } = await converged(runtime, [tenants[0] as Tenant]);

    expect(planned()).toEqual({ desired: [], observed: ['t1/w/i0', 't1/w/i1'] });
    expect(runtime.records.size).toBe(2);
    expect(steps.map((s) => `${s.instance}:${s.status}`)).toEqual([
      't0/w/i0:running',
      't0/w/i1:running',
      't1/w/i0:destroyed',
      't1/w/i1:destroyed',
    ]);
  });
});
