import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { joinHost } from '../../src/agent/join/join-host.ts';
import { startAgent } from '../../src/agent/start-agent.ts';
import {
  FACTS,
  runner,
  startTlsCoordinator,
  type TlsCoordinator,
} from '../coordinator/join-harness.ts';
import { testAgentConfig } from './agent-harness.ts';

const qemu = existsSync('/usr/bin/qemu-system-x86_64');
if (!qemu) {
  const message = 'agent loop over mTLS: qemu-system-x86_64 is absent; install qemu-system-x86';
  if (process.env.CI) throw new Error(message);
  console.warn(`[skip] ${message}`);
}

// Production mode end to end: joined host, node certificate, HTTPS both ways, signed documents
// from a pinned key, and a real microVM started because of a pool scale.
describe.skipIf(!qemu)('agent loop over mTLS in production mode', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('joins, watches over mTLS and boots what the coordinator asks for', async () => {
    const dbDir = await mkdtemp(join(tmpdir(), 'mvm-mtls-db-'));
    const agentDir = await mkdtemp(join(tmpdir(), 'mvm-mtls-agent-'));
    cleanup.push(() => rm(dbDir, { recursive: true, force: true }));
    cleanup.push(() => rm(agentDir, { recursive: true, force: true }));
    const coordinator: TlsCoordinator = await startTlsCoordinator(join(dbDir, 'c.sqlite'));
    cleanup.push(() => coordinator.close());
    const issued = await coordinator.issueToken({ nodeId: 'n1' });
    await joinHost({
      coordinatorUrl: coordinator.url,
      token: issued.token,
      nodeId: 'n1',
      facts: FACTS,
      trust: { caFingerprint: issued.caFingerprint },
      dataDir: agentDir,
      runner,
    });
    const key = (await coordinator.admin('GET', '/signing-key')).body as { publicKeyPem: string };
    const keyFile = join(agentDir, 'coordinator-signing.pem');
    await writeFile(keyFile, key.publicKeyPem);

    // Production: no node id, no token; the joined identity names the node and its coordinator.
    const config = testAgentConfig(agentDir, {}, { production: true, trustedKey: keyFile });
    const agent = await startAgent(config, { logger: pino({ level: 'silent' }), network: null });
    cleanup.push(async () => {
      await agent.runtime.destroyAll();
      await agent.close();
    });
    expect(agent.link).toMatchObject({ nodeId: 'n1', mtls: true, baseUrl: coordinator.url });

    // A net id of its own: taps are named per host by net id, and other tests run alongside.
    await coordinator.admin('POST', '/tenants', { id: 'prod', netId: 212 });
    const pool = {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
      dataDiskMib: 16,
    };
    await coordinator.admin('POST', '/tenants/prod/pools', pool);
    await coordinator.admin('POST', '/tenants/prod/pools/web/scale', { running: 1 });
    const deadline = Date.now() + 60_000;
    let instances: Array<{ status: string; nodeId: string | null }> = [];
    while (Date.now() < deadline) {
      instances = (await coordinator.admin('GET', '/instances?tenant=prod'))
        .body as typeof instances;
      if (instances[0]?.status === 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(instances, JSON.stringify(instances)).toMatchObject([
      { status: 'running', nodeId: 'n1' },
    ]);
    expect((await agent.runtime.list())[0]?.status).toBe('running');
  }, 180_000);
});
