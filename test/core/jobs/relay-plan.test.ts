import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRelays, stillWithoutExecutor } from '../../../src/core/jobs/relay-plan.ts';

const roles = ['worker', 'gateway', 'builder'];
const statuses = ['running', 'warm', 'sleeping', 'stopped', 'creating'];

describe('job relay plan', () => {
  it('relays exactly the running workers that have an executor', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
            role: fc.constantFrom(...roles),
            status: fc.constantFrom(...statuses),
          }),
          { selector: (vm) => vm.key },
        ),
        fc.subarray(['a', 'b', 'c', 'd', 'e', 'gone']),
        fc.subarray(['a', 'b', 'c']),
        (vms, active, without) => {
          const plan = planRelays(vms, new Set(active), new Set(without));
          const after = new Set([...active.filter((k) => !plan.stop.includes(k)), ...plan.start]);
          for (const vm of vms) {
            const wanted =
              vm.role === 'worker' && vm.status === 'running' && !without.includes(vm.key);
            expect(after.has(vm.key)).toBe(wanted);
          }
          expect(after.has('gone')).toBe(false);
          for (const key of plan.start) expect(active).not.toContain(key);
        },
      ),
    );
  });

  it('forgets a missing executor once its VM stops running', () => {
    const vms = [
      { key: 'a', role: 'worker', status: 'running' },
      { key: 'b', role: 'worker', status: 'sleeping' },
    ];
    expect([...stillWithoutExecutor(vms, new Set(['a', 'b', 'c']))]).toEqual(['a']);
  });
});
