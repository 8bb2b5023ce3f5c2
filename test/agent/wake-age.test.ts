/**
 * The age a restarted agent's report gives a wake its node admitted itself
 * (`admittedMsAgo`, services/wake-report.ts `loweredSince`): how long ago by the node's
 * clock, never below 0, and an older wake sent at the report's bound (MAX_WAKE_AGE_MS,
 * ~24.8 days), which the coordinator's schema accepts. The coordinator is a stand-in
 * recording each report's body.
 */
import { expect, it } from 'vitest';
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
