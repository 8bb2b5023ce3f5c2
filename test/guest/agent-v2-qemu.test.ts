/**
 * The version-2 guest agent inside ONE real guest (QEMU, TCG here) booted from the dev image:
 * image rootfs plus mvm's init drive, the agent on virtio-serial. The anchors' acceptance
 * list, run against it through the host client.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/contract/guest-protocol-v2.ts';
import { encodeFrame, encodeJsonFrame } from '../../src/drivers/guest-channel/frame-codec.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { collect, execText, sha256Of } from '../support/exec-output.ts';
import { devImage, guestSpec, shortWorkDir, testRunner } from '../support/qemu-guest.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';
import { until } from '../support/until.ts';

const gate = await qemuSuiteGate('guest agent v2 in a real guest');

describe.runIf(gate.run)('guest agent v2 in a real guest', () => {
  const vmm = new QemuVmm({ runner: testRunner, accel: 'tcg' });
  let vm: VmHandle;
  let client: GuestAgentClient;
  const newClient = (): GuestAgentClient =>
    new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 20_000 });
  /** How many processes in the guest run exactly `args`. */
  const running = async (args: string): Promise<number> => {
    const out = await execText(client, { argv: ['sh', '-c', `ps -o args | grep -cx '${args}'`] });
    return Number(out.stdout.trim());
  };

  beforeAll(async () => {
    const image = await devImage();
    const workDir = await shortWorkDir('v2q');
    vm = await vmm.start(guestSpec(image, workDir, { key: 'mvm-test-agent-v2' }));
    client = newClient();
    await client.waitReady(120_000);
  }, 180_000);
  afterAll(async () => {
    client?.close();
    if (vm) await vmm.stop(vm);
  });

  it('boots to a ready version-2 agent from its own drive', async () => {
    const info = await client.info();
    expect(info).toMatchObject({ proto: 2, agent: 'mvm-agent' });
    expect(info.caps).toEqual(expect.arrayContaining(['exec', 'pty', 'files']));
    // The image's root is untouched: it is the read-only lower layer of an overlay whose
    // upper layer is a tmpfs, and the agent lives on mvm's drive, mounted read-only.
    const mounts = await execText(client, { argv: ['cat', '/proc/mounts'] });
    expect(mounts.stdout).toMatch(
      /^overlay \/ overlay rw,[^ ]*lowerdir=\/image,upperdir=\/layer\/upper/m,
    );
    expect(mounts.stdout).toMatch(/^\/dev\/vd\w+ \/mvm ext4 ro/m);
    expect((await execText(client, { argv: ['ls', '/sbin'] })).stdout).toBe('');
  });

  it('a missing command answers 127 within 1 s; exit codes and signals arrive', async () => {
    const started = Date.now();
    expect((await execText(client, { argv: ['/nonexistent'] })).exit.code).toBe(127);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await execText(client, { argv: ['sh', '-c', 'exit 7'] })).exit.code).toBe(7);
    const killed = await execText(client, { argv: ['sh', '-c', 'kill -9 $$'] });
    expect(killed.exit).toMatchObject({ signal: 'KILL', code: 137 });
  });

  it('the exit arrives while a background child holds the pipes', async () => {
    const started = Date.now();
    const result = await execText(client, { argv: ['sh', '-c', 'sleep 600 & echo bg'] });
    expect(result).toMatchObject({ stdout: 'bg\n', exit: { code: 0 } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a timeout kills the process group: timed_out, 124, and no sleep left', async () => {
    const started = Date.now();
    const result = await execText(client, {
      argv: ['sh', '-c', 'sleep 61 & sleep 62'],
      timeoutMs: 500,
    });
    expect(result.exit).toMatchObject({ code: 124, timedOut: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await running('sleep 61')).toBe(0);
    expect(await running('sleep 62')).toBe(0);
  });

  it('8 MiB of random output arrive byte-exact', async () => {
    const script =
      'head -c 8388608 /dev/urandom >/tmp/r; cat /tmp/r; sha256sum /tmp/r >&2; rm /tmp/r';
    const exec = await client.exec({ argv: ['sh', '-c', script] });
    const [out, digest] = await Promise.all([collect(exec.stdout), collect(exec.stderr)]);
    expect(out.length).toBe(8388608);
    expect(digest.toString()).toContain(sha256Of(out));
    expect((await exec.exit).code).toBe(0);
  }, 120_000);

  it('cat echoes 1 MiB of stdin unchanged', async () => {
    const input = randomBytes(1024 * 1024);
    const exec = await client.exec({ argv: ['cat'] }, { stdin: Readable.from([input]) });
    expect(sha256Of(await collect(exec.stdout))).toBe(sha256Of(input));
    expect((await exec.exit).code).toBe(0);
  }, 60_000);

  it('a pty reports its size after a resize', async () => {
    const pty = await client.openPty({ argv: ['sh'], cols: 80, rows: 24 });
    const output: Buffer[] = [];
    pty.output.on('data', (chunk: Buffer) => output.push(chunk));
    await pty.resize(120, 40);
    pty.input.write('stty size; exit\n');
    expect((await pty.exit).code).toBe(0);
    expect(Buffer.concat(output).toString()).toContain('40 120');
  });

  it('20 concurrent commands each end with exactly one exit', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        execText(client, { argv: ['sh', '-c', `echo ${i}; exit ${i % 5}`] }),
      ),
    );
    results.forEach((result, i) =>
      expect(result).toMatchObject({ stdout: `${i}\n`, exit: { code: i % 5 } }),
    );
  }, 60_000);

  it('a hung command blocks neither status nor sleep-prep; the drain waits, then reports it', async () => {
    const hung = await client.exec({ argv: ['sleep', '300'] });
    let started = Date.now();
    expect((await client.status(5_000)).busy?.sessions).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    started = Date.now();
    const drain = await client.sleepPrep(1_500);
    const took = Date.now() - started;
    expect(drain).toMatchObject({ drained: false, busy: { sessions: 1, commands: ['sleep'] } });
    expect(took).toBeGreaterThanOrEqual(1_400);
    expect(took).toBeLessThan(5_000);
    await hung.signal('KILL');
    expect((await hung.exit).signal).toBe('KILL');
    await execText(client, { argv: ['/mvm/bin/mvm-agent', 'busy', 'on', 'batch'] });
    expect((await client.sleepPrep(200)).busy.flags).toEqual(['batch']);
    await execText(client, { argv: ['/mvm/bin/mvm-agent', 'busy', 'off', 'batch'] });
    expect((await client.sleepPrep(200)).drained).toBe(true);
  }, 30_000);

  it('puts and gets a file with its mode, byte-exact', async () => {
    const content = randomBytes(300 * 1024);
    await client.putFile('/tmp/blob', content, { mode: 0o640 });
    expect((await execText(client, { argv: ['stat', '-c', '%a %s', '/tmp/blob'] })).stdout).toBe(
      `640 ${content.length}\n`,
    );
    const got = await client.getFile('/tmp/blob');
    expect(got.mode).toBe(0o640);
    expect(sha256Of(await collect(got.content))).toBe(sha256Of(content));
  }, 60_000);

  it('a malformed frame gets an error and the channel stays usable; a reconnect ends old sessions', async () => {
    const orphan = await client.exec({ argv: ['sleep', '301'] });
    client.close();
    await expect(orphan.exit).rejects.toThrow(/closed/);
    // A raw host: hello, then garbage, then a ping on the same channel.
    const raw = connect(vm.guestSocket);
    let received = Buffer.alloc(0);
    raw.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    raw.write('{"id":5,"op":"hello","proto":2}\n');
    await until('hello', () => (received.includes('"proto":2') ? true : undefined), 20_000, 20);
    raw.write(encodeFrame(FrameType.req, 9, Buffer.from('not json')));
    raw.write(encodeJsonFrame(FrameType.req, 10, { op: 'ping' }));
    await until(
      'the ping answer',
      () => (received.includes('"ready":true') ? true : undefined),
      20_000,
      20,
    );
    expect(received.toString('latin1')).toContain('"code":"bad_request"');
    raw.destroy();
    client = newClient();
    await client.waitReady(30_000);
    await until(
      'the orphaned sleep to be killed',
      async () => ((await running('sleep 301')) === 0 ? true : undefined),
      10_000,
      500,
    );
  }, 60_000);
});
