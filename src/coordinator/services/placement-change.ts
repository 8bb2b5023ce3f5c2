import type { DocumentChange } from '../desired/change-notifier.ts';
import type { ScheduleOutcome } from './scheduler-service.ts';

const unique = (values: readonly string[]) => [...new Set(values)];

/**
 * The documents a scheduling pass changed: where it placed, and the tenants whose documents
 * everywhere moved: those it spread to a new node (their VXLAN peers), and those whose
 * instances it slept, released or lowered.
 */
export function placementChange(outcome: ScheduleOutcome): DocumentChange {
  const keys = [
    ...outcome.slept.map((s) => s.instance),
    ...outcome.released,
    ...outcome.lowered.map((l) => l.instance),
  ];
  return {
    nodes: unique(outcome.placed.map((p) => p.nodeId)),
    tenants: unique([...outcome.spread, ...keys.map((key) => key.split('/')[0] ?? '')]),
  };
}
