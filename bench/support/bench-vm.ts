import type { Logger } from '../../src/ports/logger.ts';

/** The worker VM the lifecycle benches boot on each side: 1 vCPU, 256 MiB, 16 MiB of data. */
export const benchWorkerSpec = (ip: string, mac: string) => ({
  role: 'worker' as const,
  vcpus: 1,
  memMib: 256,
  dataDiskMib: 16,
  ip,
  gateway: '10.240.98.1',
  mac,
});

/** The `phasesMs` a driver or the runtime logs with a step, by the step's log message. */
export type Phases = Record<string, number>;

/** A logger that hands each info line carrying `phasesMs` to `onPhases`, and drops the rest. */
export function phasesLogger(
  onPhases: (msg: string, phasesMs: Phases, fields: Record<string, unknown>) => void,
): Logger {
  const ignore = (): void => undefined;
  return {
    debug: ignore,
    warn: ignore,
    error: ignore,
    info: (obj, msg) => {
      const fields = obj as Record<string, unknown>;
      const phasesMs = fields['phasesMs'] as Phases | undefined;
      if (phasesMs !== undefined) onPhases(msg ?? '', phasesMs, fields);
    },
  };
}
