/**
 * The fence watchdog as a process: `node fence-watchdog-main.js <data-dir> <agent-pid>
 * <agent-start-time>`, spawned detached by the agent (start-fence-watchdog.ts). It logs to
 * `<data-dir>/fence-watchdog.log` and exits when its work is done or another agent took over.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { errorMessage } from '../../core/errors.ts';
import { runFenceWatchdog } from './fence-watchdog.ts';

async function main(argv: readonly string[]): Promise<void> {
  const [dataDir, pid, startTime] = argv;
  if (dataDir === undefined || !/^\d+$/.test(pid ?? '') || !/^\d+$/.test(startTime ?? '')) {
    throw new Error('usage: fence-watchdog-main <data-dir> <agent-pid> <agent-start-time>');
  }
  const logger = pino(
    { name: 'mvm-fence-watchdog' },
    pino.destination({ dest: join(dataDir, 'fence-watchdog.log'), mode: 0o600, sync: true }),
  );
  const watching = { pid: Number(pid), startTime: Number(startTime) };
  logger.info({ agent: watching.pid }, 'watching the agent');
  const end = await runFenceWatchdog({ dataDir, watching, logger });
  logger.info({ ...end }, 'watchdog done');
}

const invoked = process.argv[1] ? pathToFileURL(resolve(process.argv[1])).href : '';
if (import.meta.url === invoked) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`mvm fence watchdog failed: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  });
}
