import { writeSync } from 'node:fs';
import type { FaultPoint } from '../core/fault-points.ts';
import type { Logger } from '../ports/logger.ts';

/**
 * The fault hook for `MVM_FAULT=<point>` (core/fault-points.ts): at that point the agent
 * SIGKILLs itself, as a power cut or the OOM killer would, so tests can prove that a
 * restarted agent converges from there. Undefined (off) unless a point is configured.
 */
export function faultHook(
  point: FaultPoint | undefined,
  logger: Logger,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): ((at: FaultPoint) => void) | undefined {
  if (point === undefined) return undefined;
  logger.warn({ fault: point }, 'fault injection armed (MVM_FAULT): the agent kills itself there');
  return (at) => {
    if (at !== point) return;
    // Synchronously, to the log the test reads: nothing asynchronous survives the kill.
    writeSync(2, `mvm fault: SIGKILL at ${at}\n`);
    kill();
  };
}
