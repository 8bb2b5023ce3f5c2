/**
 * Runs the real guest agent script (busybox sh, as in the image) on the host by sourcing it
 * and feeding request lines to its `handle` function; the replies must satisfy the contract.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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

  it('tolerates spaces after colons', async () => {
    expect(await handle('{"id": 12, "op": "ping"}')).toMatchObject({ id: 12, ok: true });
  });
});
