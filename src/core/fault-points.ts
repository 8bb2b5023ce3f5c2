/**
 * Where the fault hook (`MVM_FAULT=<point>`, off unless set) kills the agent with SIGKILL:
 * inside each lifecycle step, at the moments a crash leaves the host half-way between two
 * states. A restarted agent must converge from every one of them (test/e2e/agent-faults).
 */
export const FAULT_POINTS = [
  /** create: the record is written, nothing built yet. */
  'create.after-record',
  /** start: tap and bridge applied, drives built, no VMM yet. */
  'start.after-drives',
  /** start: the VMM runs, its pid is not recorded yet. */
  'start.after-spawn',
  /** start: pid recorded, the guest not ready yet. */
  'start.before-ready',
  /** warm: the VMM is paused, the record still says running. */
  'warm.after-pause',
  /** sleep: the snapshot is on disk, the record does not name it, the VMM still runs. */
  'sleep.after-snapshot',
  /** sleep: the VMM is gone, the record is not sleeping yet. */
  'sleep.after-stop',
  /** wake: a VMM restored from the snapshot, its pid not recorded yet. */
  'wake.after-restore',
  /** wake: the guest resumed, the record still sleeping. */
  'wake.after-resume',
  /** stop: the VMM is gone, the record still holds its pid. */
  'stop.after-kill',
  /** destroy: drives removed, the record and its directory still there. */
  'destroy.after-drives',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];
