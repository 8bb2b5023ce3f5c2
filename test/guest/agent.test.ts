/**
 * Runs the real guest agent script (busybox sh, as in the image) on the host by sourcing it
 * and feeding request lines to its `handle` function; the replies must satisfy the contract.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DrivesResponseSchema,
  GuestErrorResponseSchema,
  PingResponseSchema,
  SleepPrepResponseSchema,
  StatusResponseSchema,
  WakeResponseSchema,
} from '../../src/contract/guest-protocol.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

const AGENT = fileURLToPath(new URL('../../src/guest/agent.sh', import.meta.url));
const runner = new NodeProcessRunner();
const hasBusybox = await runner
  .run('busybox', ['true'], { check: false })
  .then((r) => r.exitCode === 0)
  .catch(() => false);
if (!hasBusybox)
  console.warn('\n!!! guest agent tests: busybox not found (install busybox-static); skipping\n');

describe.runIf(hasBusybox)('guest agent script', () => {
  let state: string;
  beforeAll(async () => {
    state = await mkdtemp(join(tmpdir(), 'mvm-agent-'));
    await writeFile(join(state, 'counter'), '42\n');
  });
  afterAll(() => rm(state, { recursive: true, force: true }));

  async function handle(line: string): Promise<unknown> {
    const script = `. "$1"; HOST_NAME=guest-1; HOST_IP=10.240.99.3; handle "$2"`;
    const result = await runner.run('busybox', ['sh', '-c', script, 'sh', AGENT, line], {
      env: { MVM_AGENT_SOURCE_ONLY: '1', MVM_STATE_DIR: state },
    });
    expect(result.stdout.endsWith('\n')).toBe(true);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    return JSON.parse(result.stdout) as unknown;
  }

  it('answers ping with ready', async () => {
    expect(PingResponseSchema.parse(await handle('{"id":7,"op":"ping"}'))).toEqual({
      id: 7,
      ok: true,
      ready: true,
    });
  });

  it('answers status with uptime, the RAM counter, identity and boot id', async () => {
    const status = StatusResponseSchema.parse(await handle('{"id":8,"op":"status"}'));
    expect(status).toMatchObject({ id: 8, counter: 42, hostname: 'guest-1', ip: '10.240.99.3' });
    expect(status.uptime_s).toBeGreaterThan(0);
  });

  it('acknowledges sleep-prep after syncing, and wake', async () => {
    expect(SleepPrepResponseSchema.parse(await handle('{"id":9,"op":"sleep-prep"}')).drained).toBe(
      true,
    );
    expect(WakeResponseSchema.parse(await handle('{"id":10,"op":"wake","now":1}'))).toEqual({
      id: 10,
      ok: true,
    });
  });

  it('refuses unknown ops and survives requests without an id', async () => {
    expect(GuestErrorResponseSchema.parse(await handle('{"id":11,"op":"reboot"}'))).toEqual({
      id: 11,
      ok: false,
      error: 'unknown op',
    });
    expect(await handle('{"op":"ping"}')).toEqual({ id: null, ok: true, ready: true });
  });

  describe('drive remounts on wake', () => {
    const D1 = 'a'.repeat(64);
    const D2 = 'b'.repeat(64);
    let drives: string;
    beforeAll(async () => {
      drives = await mkdtemp(join(tmpdir(), 'mvm-agent-drives-'));
    });
    afterAll(() => rm(drives, { recursive: true, force: true }));

    /** Runs requests in one shell with mount/umount recorded instead of run. */
    async function session(lines: string[]): Promise<{ calls: string[]; replies: unknown[] }> {
      const fakes =
        'mount() { echo "mount $*" >>"$MVM_STATE_DIR/calls"; }; umount() { echo "umount $*" >>"$MVM_STATE_DIR/calls"; };';
      const script = `. "$1"; ${fakes} shift; for l in "$@"; do handle "$l"; done`;
      const result = await runner.run('busybox', ['sh', '-c', script, 'sh', AGENT, ...lines], {
        env: { MVM_AGENT_SOURCE_ONLY: '1', MVM_STATE_DIR: drives },
      });
      const calls = await readFile(join(drives, 'calls'), 'utf8').catch(() => '');
      await rm(join(drives, 'calls'), { force: true });
      return {
        calls: calls.split('\n').filter(Boolean),
        replies: result.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown),
      };
    }

    it('remounts what the host did not vouch for, keeps an unchanged drive, remounts a changed one', async () => {
      await writeFile(join(drives, 'secrets.dev'), '/dev/vdc\n');
      await writeFile(join(drives, 'counter'), '1\n');
      // No digest known yet (an older host, or a guest booted before digests): remount.
      const first = await session(['{"id":1,"op":"wake","now":1}']);
      expect(first.calls).toEqual([
        'umount /run/secrets',
        'mount -t ext4 -o ro /dev/vdc /run/secrets',
      ]);
      // The host names what a fresh boot mounted; a wake with the same digest keeps the mount.
      const same = await session([
        `{"id":2,"op":"drives","secrets":"${D1}"}`,
        `{"id":3,"op":"wake","now":1,"secrets":"${D1}"}`,
        '{"id":4,"op":"status"}',
      ]);
      expect(same.calls).toEqual([]);
      expect(StatusResponseSchema.parse(same.replies[2]).remounts).toBe(1);
      // New secrets: a new digest, a remount, and the new digest is what the guest holds now.
      const changed = await session([
        `{"id":5,"op":"wake","now":1,"secrets":"${D2}"}`,
        `{"id":6,"op":"wake","now":1,"secrets":"${D2}"}`,
      ]);
      expect(changed.calls).toEqual([
        'umount /run/secrets',
        'mount -t ext4 -o ro /dev/vdc /run/secrets',
      ]);
      expect(await readFile(join(drives, 'secrets.digest'), 'utf8')).toBe(`${D2}\n`);
      // A drive the guest never mounted (no config here) is left alone whatever the host says.
      const none = await session([`{"id":7,"op":"wake","now":1,"config":"${D1}"}`]);
      expect(none.calls).toEqual([
        'umount /run/secrets',
        'mount -t ext4 -o ro /dev/vdc /run/secrets',
      ]);
      expect(DrivesResponseSchema.parse(same.replies[0])).toEqual({ id: 2, ok: true });
    });
  });

  it('tolerates spaces after colons', async () => {
    expect(await handle('{"id": 12, "op": "ping"}')).toMatchObject({ id: 12, ok: true });
  });
});
