/**
 * Wake on connect against the wake itself, in one run: a real agent (in process, QEMU under
 * TCG, tenant networking) boots a target serving busybox httpd on its service port and a
 * client of its tenant. Each round puts the target to sleep, then either
 * - wakes it plainly through the runtime (`wake`: until its guest agent answers), or
 * - has the client fetch a page from it while it sleeps (`connect`: the wget, held by the
 *   node, answered once the target woke), timed from the host around the client's exec;
 * and, for reference, the same fetch from a running target (`awake fetch`: what the exec and
 * the wget cost without any wake). Prints the median and every sample of each. Runs itself
 * inside a network namespace it creates (`npx tsx bench/wake-on-connect.ts [rounds]`, default
 * 5; root).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../src/agent/agent-config.ts';
import { startAgent } from '../src/agent/start-agent.ts';
import type { WakeService } from '../src/agent/wake/wake-service.ts';
import { WAKE_TARGET_IP, wakeSpec } from '../test/net/support/wake-lab.ts';
import { inOwnNetns } from './support/own-netns.ts';

const rounds = Number(process.argv[2] ?? 5);
const TARGET = WAKE_TARGET_IP;
const ref = (instanceId: string) => ({ tenantId: 'bench', poolId: 'web', instanceId });
const spec = wakeSpec;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-bench-wake-'));
  const config = loadAgentConfig({ flags: { dataDir }, env: {}, readText: () => undefined });
  const agent = await startAgent(config);
  const wakes = agent.deps.wake as WakeService | undefined;
  if (!wakes) throw new Error('the agent runs no wake service (tenant networking off?)');
  const target = ref('target');
  const client = ref('client');
  const sh = async (instance: typeof target, script: string): Promise<string> => {
    const exec = await agent.runtime.exec(instance, { argv: ['sh', '-c', script] });
    const chunks: Buffer[] = [];
    exec.stdout.on('data', (c: Buffer) => chunks.push(c));
    exec.stderr.resume();
    await exec.exit;
    return Buffer.concat(chunks).toString().trim();
  };
  const fetch = () => sh(client, `wget -qO- http://${TARGET}:8080/`);
  const timed = async (work: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  try {
    await agent.runtime.put(target, { spec: spec(2, { servicePorts: [8080] }) });
    await agent.runtime.put(client, { spec: spec(3) });
    await agent.runtime.act(target, 'start');
    await agent.runtime.act(client, 'start');
    await sh(target, 'mkdir -p /tmp/www && echo hello > /tmp/www/index.html');
    await sh(target, 'httpd -p 8080 -h /tmp/www');
    if ((await fetch()) !== 'hello') throw new Error('the target does not serve');
    const samples = { wake: [] as number[], connect: [] as number[], awake: [] as number[] };
    for (let round = 0; round < rounds; round += 1) {
      samples.awake.push(await timed(fetch));
      await agent.runtime.act(target, 'sleep');
      samples.wake.push(await timed(() => agent.runtime.act(target, 'wake')));
      await agent.runtime.act(target, 'sleep');
      const before = wakes.wakeCount;
      let answer = '';
      samples.connect.push(await timed(async () => (answer = await fetch())));
      if (answer !== 'hello' || wakes.wakeCount !== before + 1) {
        throw new Error(`round ${round}: the held fetch got '${answer}'`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const line = (what: string, xs: number[]) =>
      console.log(
        `${what.padEnd(34)} median ${median(xs).toFixed(1)} ms   [${xs.map((x) => x.toFixed(0)).join(', ')}]`,
      );
    console.log(`wake on connect, QEMU (TCG), ${rounds} rounds, 128 MiB guests`);
    line('wake (runtime, guest answers)', samples.wake);
    line('connect to a sleeping target', samples.connect);
    line('fetch from an awake target', samples.awake);
    console.log(
      `held connection answered ${(median(samples.connect) - median(samples.awake)).toFixed(1)} ms later than an awake fetch; the wake alone takes ${median(samples.wake).toFixed(1)} ms`,
    );
  } finally {
    await agent.runtime.destroyAll().catch(() => undefined);
    await agent.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await inOwnNetns('mvmb-wake', [String(rounds)], main);
