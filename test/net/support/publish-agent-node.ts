/**
 * A real agent (in process, real QEMU under TCG, tenant networking on) inside a test node
 * namespace (`ip netns exec <ns> node --import tsx publish-agent-node.ts <dataDir>`), so its
 * bridges, published-port listeners and loopback are the namespace's. One line per command on
 * stdin, one answer `ok <json>` or `err <message>`:
 * - `boot`: boots the target, publishing host port 18080 to its 8080 (busybox httpd), with
 *   sleep/wake hooks that append to files in the guest and a secret TOKEN=one; answers once
 *   the node listens on 18080 and a fetch through it is served;
 * - `fetch <n>`: n parallel HTTP GETs of http://127.0.0.1:18080/ from this process (the node);
 * - `sleep` / `warm`: lowers the target (a sleep's refusal is answered as `refused`);
 * - `busy` / `idle`: makes the beforeSleep hook exit 1 / 0;
 * - `rotate <value>`: a new TOKEN (applied at the next wake);
 * - `destroy`: destroys the target (the test's cleanup).
 * Every answer carries the target's status, boot id, the proxy's wake count and the hook logs.
 */
import { request } from 'node:http';
import { startAgent } from '../../../src/agent/start-agent.ts';
import type { PublishProxy } from '../../../src/agent/publish/publish-proxy.ts';
import { collect } from '../../support/exec-output.ts';
import { wakeSpec } from './wake-lab.ts';
import { testAgentConfig } from '../../agent/agent-harness.ts';
import { nodeLogger, serveCommands, type NodeCommands } from './command-loop.ts';

const dataDir = process.argv[2] ?? '';
const target = { tenantId: 'acme', poolId: 'web', instanceId: 'target' };
const HOST_PORT = 18080;
const hooks = {
  beforeSleep: [
    'sh',
    '-c',
    'test ! -e /tmp/busy || { echo busy; exit 1; }; echo suspended >> /tmp/hooks.log',
  ],
  afterWake: ['sh', '-c', 'echo resumed >> /tmp/hooks.log'],
  secretsReload: ['sh', '-c', 'echo "reload $(cat /run/secrets/TOKEN)" >> /tmp/hooks.log'],
};
const spec = wakeSpec(2, { publish: [{ hostPort: HOST_PORT, guestPort: 8080 }], hooks });

const agent = await startAgent(testAgentConfig(dataDir), { logger: nodeLogger() });
const proxy = agent.deps.publish as PublishProxy | undefined;

async function sh(script: string): Promise<string> {
  const exec = await agent.runtime.exec(target, { argv: ['sh', '-c', script] });
  const [out] = await Promise.all([collect(exec.stdout), collect(exec.stderr)]);
  await exec.exit;
  return out.toString().trim();
}

function get(): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: HOST_PORT, path: '/', agent: false }, (res) => {
      void collect(res).then(
        (body) => resolve(body.toString().trim()),
        () => resolve('failed'),
      );
    });
    req.on('error', (error) => resolve(`failed: ${error.message}`));
    req.end();
  });
}

async function state(): Promise<Record<string, unknown>> {
  const record = await agent.runtime.get(target);
  const running = record.status === 'running';
  return {
    status: record.status,
    wakes: proxy?.wakeCount ?? -1,
    ...(running ? { bootId: await sh('cat /proc/sys/kernel/random/boot_id') } : {}),
    ...(running
      ? { hooks: (await sh('cat /tmp/hooks.log 2>/dev/null')).split('\n').filter(Boolean) }
      : {}),
  };
}

const commands: NodeCommands = {
  async boot() {
    await agent.runtime.put(target, { spec, secrets: { TOKEN: 'one' } });
    await agent.runtime.act(target, 'start');
    await sh('mkdir -p /tmp/www && echo hello > /tmp/www/index.html');
    await sh('httpd -p 8080 -h /tmp/www');
    const deadline = Date.now() + 30_000;
    while (!(proxy?.ports() ?? []).includes(HOST_PORT)) {
      if (Date.now() > deadline) throw new Error(`the node does not listen on ${HOST_PORT}`);
      await new Promise((done) => setTimeout(done, 100));
    }
    return { answers: [await get()], ...(await state()) };
  },
  async fetch(arg) {
    const answers = await Promise.all(Array.from({ length: Number(arg) }, () => get()));
    return { answers, ...(await state()) };
  },
  async sleep() {
    try {
      await agent.runtime.act(target, 'sleep');
      return state();
    } catch (error) {
      return {
        refused: error instanceof Error ? error.message : String(error),
        ...(await state()),
      };
    }
  },
  async warm() {
    await agent.runtime.act(target, 'warm');
    return state();
  },
  async busy() {
    await sh('touch /tmp/busy');
    return state();
  },
  async idle() {
    await sh('rm -f /tmp/busy');
    return state();
  },
  async rotate(arg) {
    await agent.runtime.put(target, { spec, secrets: { TOKEN: arg } });
    return state();
  },
  async destroy() {
    await agent.runtime.destroyAll();
    return {};
  },
};

serveCommands({ publishing: proxy !== undefined }, commands);
