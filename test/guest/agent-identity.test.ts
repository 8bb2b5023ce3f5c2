/**
 * The guest op `identity` (docs/clones.md) against the real static agent on the host, inside
 * namespaces of its own (UTS, network, mount: its hostname, its `eth0` — one end of a veth —
 * and its bind over /etc/machine-id never touch the host's). The clock is left alone here
 * (no `now`); test/agent/clones-qemu.test.ts proves it in real guests.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestIdentitySchema } from '../../src/contract/guest-identity.ts';
import type { GuestIdentity } from '../../src/contract/guest-identity.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { execText } from '../support/exec-output.ts';
import { agentBinary } from '../support/host-agent.ts';
import { until } from '../support/until.ts';

const root = process.getuid?.() === 0;
if (!root) console.warn('SKIPPED: the identity op test needs root (namespaces)');

const identity = (over: Partial<GuestIdentity> = {}): GuestIdentity => ({
  hostname: 'clone-1',
  ip: '10.77.0.5/24',
  gw: '10.77.0.1',
  mac: '52:54:00:77:00:05',
  mtu: 1400,
  machine_id: randomBytes(16).toString('hex'),
  seed: randomBytes(64).toString('hex'),
  ...over,
});

describe.runIf(root)('the identity op (real agent, own namespaces)', () => {
  let dir = '';
  let child: ChildProcess | undefined;
  let client: GuestAgentClient;
  const sh = async (script: string): Promise<string> => {
    const out = await execText(client, { argv: ['sh', '-c', script] });
    expect(out.exit.code, out.stderr).toBe(0);
    return out.stdout.trim();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-clones-id-'));
    const socket = join(dir, 'agent.sock');
    const binary = await agentBinary();
    // A veth eth0 in the new network namespace stands in for the guest's NIC.
    child = spawn(
      'unshare',
      [
        '--uts',
        '--net',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        'ip link add eth0 type veth peer name eth1 && ip link set eth1 up && ip link set lo up && exec "$0" serve --unix "$1"',
        binary,
        socket,
      ],
      {
        env: { MVM_STATE_DIR: join(dir, 'state'), PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    await until(
      'the agent socket',
      () =>
        stat(socket).then(
          () => true,
          () => undefined,
        ),
      10_000,
      20,
    );
    client = new GuestAgentClient(unixSocketTransport(socket), { requestTimeoutMs: 10_000 });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    child?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('advertises the op from agent 2.2.0', async () => {
    const info = await client.waitReady(10_000);
    expect(info.version).toBe('2.4.0');
    expect(info.caps).toContain('identity');
  });

  it('refuses a bad field and changes nothing', async () => {
    const before = await sh('hostname; ip -o link show eth0; ip -o addr show dev eth0');
    for (const bad of [
      { mac: '53:54:00:77:00:05' }, // multicast
      { ip: '10.77.0.5' }, // no prefix
      { hostname: 'Bad_Name' },
      { machine_id: 'xyz' },
      { seed: 'abcd' }, // too little randomness
    ]) {
      const request = identity(bad);
      // The host's contract refuses it as well: the runtime never sends such a request.
      expect(GuestIdentitySchema.safeParse(request).success).toBe(false);
      await expect(client.identity(request)).rejects.toThrow(
        /identity: invalid .*nothing was changed/,
      );
    }
    expect(await sh('hostname; ip -o link show eth0; ip -o addr show dev eth0')).toBe(before);
  });

  it('takes the hostname, MAC, address, route, MTU, machine-id and a reseed', async () => {
    const want = identity();
    expect(GuestIdentitySchema.parse(want)).toEqual(want);
    const answer = await client.identity(want);
    expect(answer).toEqual({
      ok: true,
      hostname_set: true,
      net_set: true,
      machine_id_bound: true,
      entropy: 2, // credited and the CRNG reseeded
    });
    expect(await sh('hostname')).toBe('clone-1');
    const link = await sh('ip -o link show eth0');
    expect(link).toContain('link/ether 52:54:00:77:00:05');
    expect(link).toContain('mtu 1400');
    expect(link).toMatch(/[<,]UP[,>]/);
    expect(await sh("ip -o -4 addr show dev eth0 | awk '{print $4}'")).toBe('10.77.0.5/24');
    expect(await sh('ip route show default')).toMatch(/^default via 10\.77\.0\.1 dev eth0/);
    expect(await sh('cat /etc/machine-id')).toBe(want.machine_id);
    expect(await client.status()).toMatchObject({ hostname: 'clone-1', ip: '10.77.0.5' });
  });

  it('a second identity replaces the first: one address, the new machine-id', async () => {
    const next = identity({ hostname: 'clone-2', ip: '10.77.0.6/24', mac: '52:54:00:77:00:06' });
    await client.identity(next);
    expect(await sh("ip -o -4 addr show dev eth0 | awk '{print $4}'")).toBe('10.77.0.6/24');
    expect(await sh('ip -o link show eth0')).toContain('link/ether 52:54:00:77:00:06');
    expect(await sh('hostname')).toBe('clone-2');
    expect(await sh('cat /etc/machine-id')).toBe(next.machine_id);
  });
});
