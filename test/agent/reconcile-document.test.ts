/**
 * A reconcile pass against real QEMU guests (TCG): the core planner's steps executed by the
 * instance runtime. Two boots in all. Witnesses: the order of the VMM calls (gateway first up,
 * last down), record versions (a converged pass writes nothing), the drained data drive, and
 * what the reporter was told, including a failed wake that leaves the others alone.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { reconcileDocument } from '../../src/agent/reconcile/reconcile-document.ts';
import type { ReconcileStep } from '../../src/agent/reconcile/reconcile-document.ts';
import type { InstanceRef } from '../../src/agent/runtime/instance-runtime.ts';
import { NODE_DOCUMENT_SCHEMA } from '../../src/core/desired-doc.ts';
import type { DesiredStatus, InstanceStatus, Role } from '../../src/core/model.ts';
import type { NodeDesired } from '../../src/contract/desired.ts';
import type { Vmm } from '../../src/ports/vmm.ts';
import {
  agentDataDir,
  debugfsCat,
  drivePath,
  quietLogger,
  tcgVmm,
  testAgentConfig,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('reconcile pass');

/** The real VMM, with every lifecycle call logged as `op:key` and restores failing on demand. */
class RecordingVmm implements Vmm {
  readonly name: Vmm['name'];
  readonly calls: string[] = [];
  failRestoreOf = new Set<string>();
  constructor(private readonly inner: Vmm) {
    this.name = inner.name;
  }
  private log(op: string, key: string): void {
    this.calls.push(`${op}:${key}`);
  }
  capabilities: Vmm['capabilities'] = () => this.inner.capabilities();
  start: Vmm['start'] = (spec) => (this.log('start', spec.key), this.inner.start(spec));
  pause: Vmm['pause'] = (vm) => (this.log('pause', vm.key), this.inner.pause(vm));
  resume: Vmm['resume'] = (vm) => (this.log('resume', vm.key), this.inner.resume(vm));
  snapshot: Vmm['snapshot'] = (vm, dir, kind) => (
    this.log('snapshot', vm.key),
    this.inner.snapshot(vm, dir, kind)
  );
  restore: Vmm['restore'] = (spec, snap) => {
    this.log('restore', spec.key);
    if (this.failRestoreOf.has(spec.key)) {
      return Promise.reject(new Error('injected: snapshot unreadable'));
    }
    return this.inner.restore(spec, snap);
  };
  state: Vmm['state'] = (vm) => this.inner.state(vm);
  stop: Vmm['stop'] = (vm) => (this.log('stop', vm.key), this.inner.stop(vm));
  adopt: Vmm['adopt'] = (vm) => this.inner.adopt(vm);
}

interface Wanted {
  pool: 'edge' | 'workers';
  id: string;
  octet: number;
  desired: DesiredStatus;
  mac?: string;
}

const NET_ID = 219;

function documentOf(wanted: readonly Wanted[]): NodeDesired {
  const pool = (id: Wanted['pool'], role: Role) => ({
    id,
    role,
    flake: '.',
    profile: 'minimal',
    revision: null,
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 16,
    pinned: false,
    critical: false,
    secretsDigest: null,
    config: null,
    instances: wanted
      .filter((w) => w.pool === id)
      .map((w) => ({
        id: w.id,
        ip: `10.240.${NET_ID}.${w.octet}`,
        mac: w.mac ?? `52:54:00:00:${NET_ID.toString(16)}:0${w.octet}`,
        desiredStatus: w.desired,
      })),
  });
  return {
    schema: NODE_DOCUMENT_SCHEMA,
    nodeId: 'node-a',
    generation: 1,
    issuedAt: new Date().toISOString(),
    tenants: [
      {
        id: 't1',
        netId: NET_ID,
        subnet: `10.240.${NET_ID}.0/24`,
        gateway: `10.240.${NET_ID}.1`,
        vxlanPeers: [],
        egress: false,
        // Workers first in the document: the order the pass takes is the planner's, not this.
        pools: [pool('workers', 'worker'), pool('edge', 'gateway')],
      },
    ],
  };
}

describe.runIf(gate.run)('a reconcile pass with real guests', () => {
  const vmm = new RecordingVmm(tcgVmm());
  const gw: InstanceRef = { tenantId: 't1', poolId: 'edge', instanceId: 'g1' };
  const w1: InstanceRef = { tenantId: 't1', poolId: 'workers', instanceId: 'w1' };
  const w2: InstanceRef = { tenantId: 't1', poolId: 'workers', instanceId: 'w2' };
  const reports: { instance: string; status: InstanceStatus; reason?: string }[] = [];
  const reporter = {
    report: async (ref: InstanceRef, status: InstanceStatus, reason?: string) => {
      reports.push({ instance: ref.instanceId, status, ...(reason ? { reason } : {}) });
    },
  };
  let dataDir: string;
  let agent: AgentHandle;

  const pass = async (wanted: readonly Wanted[]) => {
    vmm.calls.length = 0;
    reports.length = 0;
    const seen: ReconcileStep[] = [];
    const steps = await reconcileDocument({
      document: documentOf(wanted),
      runtime: agent.runtime,
      reporter,
      logger: quietLogger,
      onStep: (step) => seen.push(step),
    });
    expect(seen).toEqual(steps);
    return new Map(steps.map((s) => [s.instance, s]));
  };
  const key = (ref: InstanceRef) => agent.runtime.keyOf(ref);
  const callsOf = (op: string) =>
    vmm.calls.filter((c) => c.startsWith(`${op}:`)).map((c) => c.slice(op.length + 1));

  beforeAll(async () => {
    dataDir = await agentDataDir('rec');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm,
      logger: quietLogger,
      network: null,
    });
  });

  afterAll(async () => {
    if (agent) {
      await agent.runtime.destroyAll().catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const up: Wanted[] = [
    { pool: 'workers', id: 'w1', octet: 4, desired: 'running' },
    { pool: 'workers', id: 'w2', octet: 5, desired: 'stopped' },
    { pool: 'edge', id: 'g1', octet: 3, desired: 'running' },
  ];

  it('an empty host: the gateway boots before the worker; every named instance is reported', async () => {
    const steps = await pass(up);
    expect(callsOf('start')).toEqual([key(gw), key(w1)]);
    expect(steps.get('t1/edge/g1')).toMatchObject({ desired: 'running', status: 'running' });
    expect(steps.get('t1/workers/w1')).toMatchObject({ desired: 'running', status: 'running' });
    expect(steps.get('t1/workers/w2')).toMatchObject({ desired: 'stopped', status: 'stopped' });
    expect([...steps.values()].every((s) => s.error === undefined)).toBe(true);
    expect(reports.map((r) => `${r.instance}:${r.status}`).sort()).toEqual([
      'g1:running',
      'w1:running',
      'w2:stopped',
    ]);
    expect((await agent.runtime.get(gw)).spec.role).toBe('gateway');
  }, 300_000);

  it('the same document again: nothing to do, no VMM call, no record written', async () => {
    const before = (await agent.runtime.list()).map((vm) => [vm.key, vm.version]);
    const steps = await pass(up);
    expect(vmm.calls).toEqual([]);
    expect((await agent.runtime.list()).map((vm) => [vm.key, vm.version])).toEqual(before);
    expect([...steps.values()].map((s) => s.status).sort()).toEqual([
      'running',
      'running',
      'stopped',
    ]);
    expect(reports).toHaveLength(3);
  });

  it('sleeping: the worker (drained first) before the gateway; an unnamed record is destroyed', async () => {
    const steps = await pass([
      { pool: 'workers', id: 'w1', octet: 4, desired: 'sleeping' },
      { pool: 'edge', id: 'g1', octet: 3, desired: 'sleeping' },
    ]);
    expect(callsOf('snapshot')).toEqual([key(w1), key(gw)]);
    expect((await agent.runtime.get(w1)).status).toBe('sleeping');
    expect((await agent.runtime.get(gw)).status).toBe('sleeping');
    // The drain step had the guest write its counter to the data drive before the snapshot.
    const drained = await debugfsCat(drivePath(dataDir, key(w1), 'data.ext4'), '.mvm-last-sleep');
    expect(Number(drained)).toBeGreaterThan(0);
    await expect(agent.runtime.get(w2)).rejects.toThrow(/not found/);
    expect(steps.get('t1/workers/w2')).toEqual({
      instance: 't1/workers/w2',
      desired: 'destroyed',
      status: 'destroyed',
    });
    expect(reports.map((r) => r.instance).sort()).toEqual(['g1', 'w1']);
  }, 300_000);

  it('a failed wake is reported with its reason and does not stop the gateway waking', async () => {
    vmm.failRestoreOf.add(key(w1));
    try {
      const steps = await pass([
        { pool: 'workers', id: 'w1', octet: 4, desired: 'running' },
        { pool: 'edge', id: 'g1', octet: 3, desired: 'running' },
      ]);
      expect(callsOf('restore')).toEqual([key(gw), key(w1)]);
      expect(steps.get('t1/edge/g1')).toMatchObject({ status: 'running' });
      expect(steps.get('t1/workers/w1')).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/wake of .* failed \(still sleeping, snapshot kept\)/),
      });
      expect(reports.find((r) => r.instance === 'w1')).toMatchObject({
        status: 'failed',
        reason: expect.stringMatching(/injected: snapshot unreadable/),
      });
      const record = await agent.runtime.get(w1);
      expect(record.status).toBe('sleeping');
      expect(record.snapshot).not.toBeNull();
      expect((await agent.runtime.get(gw)).status).toBe('running');
    } finally {
      vmm.failRestoreOf.clear();
    }
  }, 300_000);
});
