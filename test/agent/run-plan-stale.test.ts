/**
 * A plan that went stale before its turn (the instance moved: its VMM found dead, a local
 * action) is not a failure of the instance: the pass reports what it is now, without a reason,
 * so a rollout or an operator does not read a failed replacement into it. A real failure is
 * still reported failed with its reason.
 */
import { describe, expect, it } from 'vitest';
import { runPlan } from '../../src/agent/reconcile/run-plan.ts';
import type { NamedInstance } from '../../src/agent/reconcile/document-instances.ts';
import type { InstanceRuntime } from '../../src/agent/runtime/instance-runtime.ts';
import { StalePlanError } from '../../src/agent/runtime/stale-plan.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import type { InstanceStatus } from '../../src/core/model.ts';
import { ref, workerSpec } from './agent-harness.ts';

const label = 'acme/web/a1';
const named = new Map<string, NamedInstance>([
  [
    label,
    {
      ref: ref('a1'),
      role: 'worker',
      desired: 'warm',
      body: { spec: workerSpec('10.240.99.9', '52:54:00:00:99:09') },
      forceSleep: false,
      pinned: false,
      replaceable: true,
    },
  ],
]);

/** The runtime's two calls a pass makes here, with what a moved instance gives. */
function runtimeThat(fail: () => never, now: InstanceStatus): InstanceRuntime {
  return {
    run: async () => fail(),
    get: async () => ({ status: now }) as VmRecord,
  } as unknown as InstanceRuntime;
}

async function pass(runtime: InstanceRuntime) {
  const reports: Array<{ status: InstanceStatus; reason?: string }> = [];
  const reporter = {
    report: async (_ref: unknown, status: InstanceStatus, reason?: string) => {
      reports.push({ status, ...(reason !== undefined ? { reason } : {}) });
    },
  };
  const records = [
    { key: 'k', tenantId: 'acme', poolId: 'web', instanceId: 'a1', status: 'running' },
  ];
  const steps = await runPlan(
    { runtime, named, records: records as VmRecord[], reporter },
    { steps: [{ instance: label, kind: 'pause', from: 'running', to: 'warm' }], stuck: [] },
  );
  return { reports, steps };
}

describe('a pass whose plan went stale', () => {
  it('reports the instance as it is now, not failed', async () => {
    const stale = () => {
      throw new StalePlanError('acme-web-a1', 'stopped', 'running', 'pause');
    };
    const { reports, steps } = await pass(runtimeThat(stale, 'stopped'));
    expect(reports).toEqual([{ status: 'stopped' }]);
    expect(steps).toEqual([{ instance: label, desired: 'warm', status: 'stopped' }]);
  });

  it('still reports a real failure as failed, with its reason', async () => {
    const broken = () => {
      throw new Error('qmp: no answer');
    };
    const { reports } = await pass(runtimeThat(broken, 'running'));
    expect(reports).toEqual([{ status: 'failed', reason: 'qmp: no answer' }]);
  });
});
