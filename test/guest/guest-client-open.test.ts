/**
 * Callers of one guest-agent client share the connection being opened, each within its own
 * deadline: a short status probe (the heartbeat's 2 s sample) that began the open while the
 * guest was still booting must not end a boot's long wait for the same guest. Against the
 * real guest agent on the host, which starts listening only after the probe gave up.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { startHostAgent, type HostAgent } from '../support/host-agent.ts';

let dir: string | undefined;
let agent: HostAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("a short probe's failed open does not end a longer wait begun after it", async () => {
  dir = await mkdtemp(join(tmpdir(), 'mvm-gco-'));
  // The guest's socket path, as the VMM will create it; nothing listens there yet.
  const socket = join(dir, 'agent.sock');
  const client = new GuestAgentClient(unixSocketTransport(socket), { requestTimeoutMs: 5_000 });
  const probe = client.status(500);
  const boot = client.waitReady(30_000);
  await expect(probe).rejects.toThrow(/timed out after 500 ms/);
  await sleep(300);
  agent = await startHostAgent();
  await symlink(agent.socket, socket);
  const info = await boot;
  expect(info.proto).toBe(2);
  expect((await client.status(2_000)).workload).toBeUndefined();
  client.close();
}, 60_000);
