/**
 * The age a restarted agent's report gives a wake its node admitted itself
 * (`admittedMsAgo`, services/wake-report.ts `loweredSince`): how long ago by the node's
 * clock, never below 0, and an older wake sent at the report's bound (MAX_WAKE_AGE_MS,
 * ~24.8 days), which the coordinator's schema accepts. A wake admitted on the same boot is
 * aged by the host's monotonic clock, so a wall clock stepped across the restart does not
 * shift it; one admitted before a reboot by the wall clock. The coordinator is a stand-in
 * recording each report's body.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { bootTime } from '../../src/agent/wake/boot-time.ts';
import { unreportedWakesFile } from '../../src/agent/wake/unreported-wakes-file.ts';
import type { UnreportedWake, WakeJournal } from '../../src/agent/wake/wake-admitter.ts';
import { WakeAdmitter } from '../../src/agent/wake/wake-admitter.ts';
import { MAX_WAKE_AGE_MS, wakeReportSchema } from '../../src/contract/requests.ts';
import type { ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { quietLogger } from './agent-harness.ts';

const NOW = Date.parse('2026-03-01T09:00:00.000Z');
const DAY_MS = 86_400_000;

/** A coordinator that answers every report with the instance running, keeping the bodies. */
function recordingApi() {
  const bodies: unknown[] = [];
  const api = {
    call: (_op: string, request: { body: unknown }) => {
      bodies.push(request.body);
      return Promise.resolve({ desiredStatus: 'running' });
    },
  } as unknown as ApiClient;
  return { api, bodies };
}

function journalOf(wakes: UnreportedWake[]): WakeJournal {
  let kept = wakes;
  return {
    load: () => Promise.resolve(kept),
    save: (next) => {
      kept = [...next];
      return Promise.resolve();
    },
  };
}

const wake = (key: string, admittedAt?: string): UnreportedWake => ({
  ref: { tenantId: 'acme', poolId: 'web', instanceId: key },
  ask: { port: 80, from: '10.0.0.9', source: 'tenant' },
  holder: { key, vcpus: 1, memMib: 256 },
  ...(admittedAt !== undefined ? { admittedAt } : {}),
});

/** A restarted agent's admitter at `now` over `wakes` kept by the one before: the bodies it sends. */
async function reported(wakes: UnreportedWake[], now: number, options = {}) {
  const { api, bodies } = recordingApi();
  const admitter = new WakeAdmitter({
    coordinator: { api, nodeId: 'node-1' },
    fallback: true,
    capacity: () => Promise.resolve({ vcpus: 4, memMib: 4096 }),
    records: () => Promise.resolve([]),
    logger: quietLogger,
    journal: journalOf(wakes),
    now: () => now,
    retryMs: 60_000,
    ...options,
  });
  expect(await admitter.restore()).toBe(wakes.length);
  expect(await admitter.flush()).toBe(0);
  admitter.close();
  return bodies.map((b) => wakeReportSchema.parse(b));
}

it('reports how long ago each kept wake was admitted, and a wake older than the bound at the bound', async () => {
  const bodies = await reported(
    [
      wake('a', new Date(NOW - 5_000).toISOString()),
      wake('b', new Date(NOW - 30 * DAY_MS).toISOString()),
      wake('c', new Date(NOW - MAX_WAKE_AGE_MS).toISOString()),
    ],
    NOW,
  );
  expect(bodies.map((b) => b.admittedMsAgo)).toEqual([5_000, MAX_WAKE_AGE_MS, MAX_WAKE_AGE_MS]);
  expect(bodies.every((b) => b.admittedBy === 'node')).toBe(true);
});

it('sends no age for a wake kept by an older agent (no admission time), and none below 0', async () => {
  const bodies = await reported(
    [wake('old'), wake('ahead', new Date(NOW + 60_000).toISOString())],
    NOW,
  );
  expect(bodies[0]?.admittedMsAgo).toBeUndefined();
  expect(bodies[1]?.admittedMsAgo).toBe(0);
});

describe('a wall clock stepped across the restart', () => {
  const admitted = (boot: string, ms: number): UnreportedWake => ({
    ...wake('a', new Date(NOW).toISOString()),
    admittedOnBoot: { boot, ms },
  });

  it('does not shift the age of a wake admitted on the same boot: the monotonic clock measures it', async () => {
    // Admitted at NOW, 1,000 ms after boot; the wall clock then set back an hour, and forward
    // a day; 5 s have passed on the monotonic clock.
    const bootTime = () => ({ boot: 'b1', ms: 6_000 });
    for (const now of [NOW - 3_600_000 + 5_000, NOW + DAY_MS]) {
      const [body] = await reported([admitted('b1', 1_000)], now, { bootTime });
      expect(body?.admittedMsAgo).toBe(5_000);
    }
  });

  it('measures a wake admitted before a reboot by the wall clock (a step shifts it), never below 0', async () => {
    const bootTime = () => ({ boot: 'b2', ms: 2_000 });
    const [later] = await reported([admitted('b1', 1_000)], NOW + 90_000, { bootTime });
    expect(later?.admittedMsAgo).toBe(90_000);
    const [back] = await reported([admitted('b1', 1_000)], NOW - 3_600_000, { bootTime });
    expect(back?.admittedMsAgo).toBe(0);
    // Where the kernel names no boot, likewise.
    const [none] = await reported([admitted('b1', 1_000)], NOW + 7_000, {
      bootTime: () => undefined,
    });
    expect(none?.admittedMsAgo).toBe(7_000);
  });

  it('keeps a wake with its monotonic time from its admission, in the file, to the report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvm-wake-age-'));
    try {
      const journal = unreportedWakesFile(join(dir, 'unreported.json'), quietLogger);
      const down = {
        call: () => Promise.reject(new Error('connect ECONNREFUSED')),
      } as unknown as ApiClient;
      const first = new WakeAdmitter({
        coordinator: { api: down, nodeId: 'node-1' },
        fallback: true,
        capacity: () => Promise.resolve({ vcpus: 4, memMib: 4096 }),
        records: () => Promise.resolve([]),
        logger: quietLogger,
        journal,
        now: () => NOW,
        bootTime: () => ({ boot: 'b1', ms: 1_000 }),
        retryMs: 60_000,
      });
      const record = {
        key: 'acme-web-a',
        tenantId: 'acme',
        poolId: 'web',
        instanceId: 'a',
        spec: { vcpus: 1, memMib: 256 },
        status: 'sleeping',
      } as unknown as VmRecord;
      const ask = { port: 80, from: '10.0.0.9', source: 'tenant' } as const;
      expect((await first.admit(record, ask, 'publish')).admitted).toBe(true);
      first.close();
      expect(await journal.load()).toMatchObject([{ admittedOnBoot: { boot: 'b1', ms: 1_000 } }]);
      // The restarted agent: the wall clock set back an hour, 3 s later on the same boot.
      const [body] = await reported(await journal.load(), NOW - 3_600_000, {
        bootTime: () => ({ boot: 'b1', ms: 4_000 }),
      });
      expect(body?.admittedMsAgo).toBe(3_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a boot id and a monotonic time on this host', () => {
    const a = bootTime();
    if (a === undefined) return; // not Linux
    expect(a.boot).toMatch(/^[0-9a-f-]{36}$/);
    const b = bootTime();
    expect(b?.boot).toBe(a.boot);
    expect(b?.ms).toBeGreaterThanOrEqual(a.ms);
  });
});
