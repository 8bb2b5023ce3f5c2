/**
 * One guest flooding its channel must not slow another's: each channel has an ingress budget
 * (drivers/guest-channel/ingress-limit.ts), over which the host stops reading it. The guests
 * are fake agents in their own processes (test/support/fake-guest.mjs) on real unix sockets,
 * so the flood competes with the host for the CPU as a real guest's would, not in its loop.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { DEFAULT_INGRESS, FRAME_COST } from '../../src/drivers/guest-channel/ingress-limit.ts';

const SCRIPT = join(import.meta.dirname, '../support/fake-guest.mjs');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

interface GuestProcess {
  path: string;
  /** Bytes the flooding guest got written into its socket so far. */
  wrote(): number;
}

async function spawnGuest(mode: 'answer' | 'flood'): Promise<GuestProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-flood-'));
  const path = join(dir, 'guest.sock');
  const child: ChildProcess = spawn(process.execPath, [SCRIPT, path, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  let wrote = 0;
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'listening') resolve();
      const match = /^wrote (\d+)$/.exec(line);
      if (match) wrote = Number(match[1]);
    });
  });
  return { path, wrote: () => wrote };
}

function clientOf(path: string): GuestAgentClient {
  const client = new GuestAgentClient(unixSocketTransport(path), { requestTimeoutMs: 5_000 });
  cleanups.push(() => client.close());
  return client;
}

async function pingTimes(client: GuestAgentClient, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    await client.ping();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}

const median = (sorted: number[]): number => sorted[Math.floor(sorted.length / 2)] ?? 0;

describe('guest channels under a flood', () => {
  it("a guest flooding its channel is held to its budget and does not delay another's request", async () => {
    const quiet = clientOf((await spawnGuest('answer')).path);
    await quiet.waitReady(5_000);
    const baseline = await pingTimes(quiet, 30);

    const flooder = await spawnGuest('flood');
    const flooded = clientOf(flooder.path);
    await flooded.waitReady(5_000);
    const floodStarted = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await pingTimes(quiet, 30);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, 2_000 - (performance.now() - floodStarted))),
    );
    const seconds = (performance.now() - floodStarted) / 1000;

    // Empty frames (10 bytes) cost FRAME_COST + 10 each: the host reads at most its budget's
    // worth of them, plus what the kernel's socket buffers hold (< 1 MiB).
    const budget = DEFAULT_INGRESS.burst + DEFAULT_INGRESS.ratePerSec * (seconds + 0.2);
    const allowed = (budget / (FRAME_COST + 10)) * 10 + 1024 * 1024;
    expect(flooder.wrote()).toBeGreaterThan(0);
    expect(flooder.wrote()).toBeLessThan(allowed);
    // The other guest's requests are answered as fast as before the flood.
    expect(median(during)).toBeLessThan(median(baseline) + 20);
    expect(during.at(-1)).toBeLessThan(250);
  }, 30_000);
});
