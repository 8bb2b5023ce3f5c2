/**
 * A real agent (in process, real QEMU under TCG, tenant networking on) run inside a test node
 * namespace (`ip netns exec <ns> node --import tsx wake-agent-node.ts <dataDir>`), so its
 * bridges, nftables and holding listeners are the namespace's. The test drives it line by
 * line on stdin; each answer is one line `ok <json>` or `err <message>`:
 * - `boot`: boots the target (service port 8080, httpd started in it) and a same-tenant
 *   client; answers the target's boot id;
 * - `sleep`: puts the target to sleep (the trap is armed before it stops answering);
 * - `connect <n>`: n parallel wgets from the client to the target; answers their outputs, the
 *   target's status, boot id and snapshot count, and how many wakes this process started;
 * - `sleepconnect`: a sleep, and one connection once its trap is armed, while it runs;
 * - `probe`: a ping and a UDP datagram from the client to the target; answers its status;
 * - `corrupt`: sleeps the target and cuts its snapshot's state file in half, as a disk that
 *   lost writes would; then `connect` shows what a held client gets;
 * - `destroy`: destroys both (the test's cleanup).
 * A restarted agent on the same data dir (after the test's kill -9) answers `up` with what
 * its recovery re-armed.
 */
import { readdir, stat, truncate } from 'node:fs/promises';
import { instanceDir, snapshotsDir } from '../../../src/agent/runtime/layout.ts';
import { startAgent } from '../../../src/agent/start-agent.ts';
import type { WakeService } from '../../../src/agent/wake/wake-service.ts';
import { snapshotStateFile } from '../../../src/drivers/qemu/qemu-snapshot.ts';
import { collect } from '../../support/exec-output.ts';
import { WAKE_TARGET_IP, wakeSpec } from './wake-lab.ts';
import { testAgentConfig } from '../../agent/agent-harness.ts';
import { nodeLogger, serveCommands, type NodeCommands } from './command-loop.ts';

const dataDir = process.argv[2] ?? '';
const TARGET = WAKE_TARGET_IP;
const ref = (instanceId: string) => ({ tenantId: 'acme', poolId: 'web', instanceId });
const target = ref('target');
const client = ref('client');
const spec = wakeSpec;

const agent = await startAgent(testAgentConfig(dataDir), { logger: nodeLogger() });
const wake = agent.deps.wake as WakeService | undefined;

async function sh(instance: typeof target, script: string): Promise<string> {
  const exec = await agent.runtime.exec(instance, { argv: ['sh', '-c', script] });
  const [out] = await Promise.all([collect(exec.stdout), collect(exec.stderr)]);
  await exec.exit;
  return out.toString().trim();
}

const bootId = () => sh(target, 'cat /proc/sys/kernel/random/boot_id');

async function snapshots(): Promise<number> {
  const key = agent.runtime.keyOf(target);
  const dir = snapshotsDir(instanceDir(agent.deps.layout, key));
  return (await readdir(dir).catch(() => [])).length;
}

async function state(): Promise<Record<string, unknown>> {
  const record = await agent.runtime.get(target);
  return {
    status: record.status,
    snapshots: await snapshots(),
    wakes: wake?.wakeCount ?? -1,
    ...(record.status === 'running' ? { bootId: await bootId() } : {}),
  };
}

const commands: NodeCommands = {
  async boot() {
    await agent.runtime.put(target, { spec: spec(2, { servicePorts: [8080] }) });
    await agent.runtime.put(client, { spec: spec(3) });
    await agent.runtime.act(target, 'start');
    await agent.runtime.act(client, 'start');
    await sh(target, 'mkdir -p /tmp/www && echo hello > /tmp/www/index.html');
    // busybox httpd forks into the background and lives on in the guest across the sleep.
    await sh(target, 'httpd -p 8080 -h /tmp/www');
    return { bootId: await bootId(), served: await sh(client, `wget -qO- http://${TARGET}:8080/`) };
  },
  async sleep() {
    await agent.runtime.act(target, 'sleep');
    return state();
  },
  async sleepconnect() {
    // A connection while the sleep runs: once the trap is armed, before the sleep returns.
    const key = agent.runtime.keyOf(target);
    const slept = agent.runtime.act(target, 'sleep');
    while (wake?.isArmed(key) !== true) await new Promise((done) => setTimeout(done, 5));
    const during = (await agent.runtime.get(target)).status;
    const connected = commands['connect']?.('1');
    return { slept: (await slept).status, during, ...((await connected) as object) };
  },
  async connect(arg) {
    const n = Number(arg);
    // No `wget -T`: this busybox's wget crashes with it; the node's hold bound ends a stuck one.
    const script = [
      `for i in $(seq ${n}); do (wget -qO- http://${TARGET}:8080/ > /tmp/o$i 2>&1 || echo failed >> /tmp/o$i) & done`,
      'wait',
      `for i in $(seq ${n}); do cat /tmp/o$i; rm -f /tmp/o$i; done`,
    ].join('; ');
    const answers = (await sh(client, script)).split('\n');
    return { answers, ...(await state()) };
  },
  async corrupt() {
    if ((await agent.runtime.get(target)).status !== 'sleeping') {
      await agent.runtime.act(target, 'sleep');
    }
    const { snapshot } = await agent.runtime.get(target);
    if (!snapshot) throw new Error('the sleeping target has no snapshot');
    const file = snapshotStateFile(snapshot.dir);
    const { size } = await stat(file);
    await truncate(file, Math.floor(size / 2));
    return { cut: size - Math.floor(size / 2), ...(await state()) };
  },
  async destroy() {
    await agent.runtime.destroyAll();
    return {};
  },
  async probe() {
    const ping = await sh(
      client,
      `ping -c 1 -W 2 ${TARGET} >/dev/null 2>&1 && echo yes || echo no`,
    );
    await sh(client, `echo hi | nc -u -w 1 ${TARGET} 8080 || true`);
    return { ping, ...(await state()) };
  },
};

serveCommands({ recovery: agent.recovery, armed: wake !== undefined }, commands);
