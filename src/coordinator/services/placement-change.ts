import type { DocumentChange } from '../desired/change-notifier.ts';
import type { ScheduleOutcome } from './scheduler-service.ts';

const unique = (values: readonly string[]) => [...new Set(values)];

/** The documents a scheduling pass changed: where it placed, and the tenants it touched. */
export function placementChange(outcome: ScheduleOutcome): DocumentChange {
  const keys = [
    ...outcome.placed.map((p) => p.instance),
    ...outcome.slept.map((s) => s.instance),
    ...outcome.released,
  ];
  return {
    nodes: unique(outcome.placed.map((p) => p.nodeId)),
    tenants: unique(keys.map((key) => key.split('/')[0] ?? '')),
  };
}
