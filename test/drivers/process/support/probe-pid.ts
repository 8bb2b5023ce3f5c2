/**
 * Asks process-control about the pid in argv[2] from this process's point of view, so a test
 * can run it as another user (EPERM is real only for a non-root caller). Prints one JSON line.
 */
import { errorMessage } from '../../../../src/core/errors.ts';
import {
  isAlive,
  probeProcess,
  processStartTime,
  sendSignal,
} from '../../../../src/drivers/process/process-control.ts';

const pid = Number(process.argv[2]);
let signalError: string | undefined;
try {
  sendSignal(pid, 'SIGTERM');
} catch (error) {
  signalError = errorMessage(error);
}
const result = {
  uid: process.getuid?.(),
  probe: probeProcess(pid),
  alive: await isAlive(pid),
  aliveAsRecorded: await isAlive(pid, await processStartTime(pid)),
  signalError,
};
console.log(JSON.stringify(result));
