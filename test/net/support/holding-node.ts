/**
 * The node's side of wake-on-connect, run inside a test node namespace
 * (`ip netns exec <ns> node --import tsx holding-node.ts '<json>'`): creates the wake trap,
 * arms one sleeping address with holding listeners for its ports, and asks the test to wake
 * it: prints `wake <trigger json>` and waits for `woken` (or `fail`) on stdin; then disarms
 * the trap and lets the held connections through. Prints `listening` once armed; `dropped`
 * on stdin prints the fallback rule's SYN counter; `leaving` marks the instance as moving away
 * (a connection is then reset at once with that reason, nothing woken; `refused <n>` printed).
 */
import { createInterface } from 'node:readline';
import { HoldingListeners } from '../../../src/agent/wake/holding-listener.ts';
import { LEAVING_REASON } from '../../../src/agent/wake/wake-service.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import { WakeTrapDriver } from '../../../src/drivers/linux-net/wake-trap-driver.ts';

interface Config {
  bridge: string;
  ip: string;
  ports: number[];
  holdMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const trap = new WakeTrapDriver(new NodeProcessRunner());
const answers: Array<(line: string) => void> = [];
let leaving = false;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'dropped') void trap.droppedSyns().then((n) => console.log(`dropped ${n}`));
  else if (line === 'leaving') {
    leaving = true;
    console.log('leaving');
  } else if (line === 'refused') console.log(`refused ${listeners.refusedCount}`);
  else answers.shift()?.(line);
});

let entries: Array<{ bridge: string; ip: string; port: number; listenPort: number }> = [];
const listeners = new HoldingListeners({
  holdMs: config.holdMs,
  refuse: () => (leaving ? LEAVING_REASON : undefined),
  async wake(key, trigger) {
    console.log(`wake ${JSON.stringify({ key, ...trigger })}`);
    const answer = await new Promise<string>((resolve) => answers.push(resolve));
    if (answer !== 'woken') throw new Error(`wake of ${key} failed: ${answer}`);
    await trap.disarm(config.bridge, config.ip, entries);
  },
});

await trap.ensure();
entries = [];
for (const port of config.ports) {
  const listenPort = await listeners.arm({ key: 'guest', ip: config.ip, port });
  entries.push({ bridge: config.bridge, ip: config.ip, port, listenPort });
}
await trap.arm(config.bridge, config.ip, entries);
console.log('listening');
