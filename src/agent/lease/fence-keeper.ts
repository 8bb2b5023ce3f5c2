/**
 * The agent's side of the fence watchdog: it takes the data dir's lease file over before
 * recovery (a watchdog left by the previous agent sees that and ends), waits for that
 * watchdog to be gone so nothing pauses a VMM while recovery adopts it, then, once the
 * runtime is up, starts its own watchdog and keeps the file at its lease's end.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import { WATCH_EVERY_MS, type ProcessId } from '../../core/fence-watch.ts';
import { DEFAULT_NODE_LOST_AFTER_MS } from '../../core/node-loss.ts';
import { leaseFor } from '../../core/node-lease.ts';
import { systemClock } from '../../drivers/clock/system-clock.ts';
import { processStartTime, terminate, waitForExit } from '../../drivers/process/process-control.ts';
import type { Cgroups } from '../../ports/cgroups.ts';
import type { Logger } from '../../ports/logger.ts';
import { LeaseFile, leaseFilePath } from './lease-file.ts';
import { startFenceWatchdog } from './start-fence-watchdog.ts';

const pidFile = (dataDir: string): string => join(dataDir, 'fence-watchdog.pid');

export interface FenceKeeper {
  /** The link's lease hook: the file follows every renewal. */
  onLease(expiresAt: number): void;
  /** Starts this agent's watchdog (after recovery). */
  startWatchdog(cgroups: Cgroups | undefined): Promise<void>;
}

export async function takeOverFence(dataDir: string, logger: Logger): Promise<FenceKeeper> {
  const startTime = await processStartTime(process.pid);
  const agent: ProcessId = { pid: process.pid, startTime: startTime ?? 0 };
  const file = new LeaseFile(leaseFilePath(dataDir));
  const write = (expiresAt: number): void => {
    file.write({ agent, expiresAt }).catch((error: unknown) => {
      logger.warn(
        { error: errorMessage(error) },
        'lease file not written; the next renewal retries',
      );
    });
  };
  // Until the first renewal the lease counts from now, for the default length (NodeLease).
  await file.write({ agent, expiresAt: Date.now() + leaseFor(DEFAULT_NODE_LOST_AFTER_MS) });
  await endPreviousWatchdog(dataDir, logger);
  return {
    onLease: write,
    startWatchdog: async (cgroups) => {
      const pid = await startFenceWatchdog({
        dataDir,
        agent,
        logger,
        ...(cgroups ? { cgroups } : {}),
      });
      if (pid === undefined) return;
      const started = await processStartTime(pid);
      await writeFile(pidFile(dataDir), `${pid} ${started ?? 0}\n`, { mode: 0o600 });
    },
  };
}

/** The previous agent's watchdog sees the new lease file within a look and ends; else it is ended. */
async function endPreviousWatchdog(dataDir: string, logger: Logger): Promise<void> {
  const text = await readFile(pidFile(dataDir), 'utf8').catch(() => '');
  const [pid, startTime] = text.trim().split(' ').map(Number);
  if (!pid || !Number.isInteger(pid)) return;
  const known = startTime ? { startTime } : {};
  const clock = systemClock;
  if (await waitForExit(pid, { clock, timeoutMs: 5 * WATCH_EVERY_MS, ...known })) return;
  logger.warn({ pid }, "the previous agent's fence watchdog did not end; stopping it");
  await terminate(pid, { clock, termTimeoutMs: 2_000, killTimeoutMs: 2_000, ...known });
}
