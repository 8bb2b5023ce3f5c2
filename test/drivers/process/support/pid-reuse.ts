/**
 * Run as root inside a fresh pid namespace (`unshare --pid --fork --mount-proc`): makes the
 * kernel hand a dead process's pid to a new one (ns_last_pid), then asks process-control
 * about both. Prints one JSON line for the test to check.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { systemClock } from '../../../../src/drivers/clock/system-clock.ts';
import {
  isAlive,
  processStartTime,
  terminate,
} from '../../../../src/drivers/process/process-control.ts';

const sleeper = (): ChildProcess => spawn('sleep', ['30'], { stdio: 'ignore' });
const exited = (child: ChildProcess) => new Promise((resolve) => child.once('exit', resolve));

const first = sleeper();
const pid = first.pid ?? 0;
const firstStart = await processStartTime(pid);
first.kill('SIGKILL');
await exited(first);
// Start times count clock ticks (10 ms): let a few pass so the two processes differ.
await delay(50);
let second: ChildProcess | undefined;
for (let attempt = 0; attempt < 20 && second?.pid !== pid; attempt++) {
  second?.kill('SIGKILL');
  await writeFile('/proc/sys/kernel/ns_last_pid', String(pid - 1));
  second = sleeper();
}
const secondStart = await processStartTime(pid);
const result = {
  pid,
  reused: second?.pid === pid,
  firstStart,
  secondStart,
  aliveAsFirst: await isAlive(pid, firstStart),
  aliveAsSecond: await isAlive(pid, secondStart),
  terminateFirst: await terminate(pid, {
    clock: systemClock,
    termTimeoutMs: 500,
    killTimeoutMs: 500,
    startTime: firstStart,
  }),
  secondAfterwards: await isAlive(pid, secondStart),
};
second?.kill('SIGKILL');
console.log(JSON.stringify(result));
