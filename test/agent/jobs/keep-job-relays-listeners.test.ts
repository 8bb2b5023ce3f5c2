/**
 * The relays' loop waits on the agent's own signal between passes: every pass must take its
 * abort listener back, or they pile up for the agent's lifetime (the quickstart printed Node's
 * MaxListenersExceededWarning after ten passes).
 */
import { getEventListeners } from 'node:events';
import { expect, it } from 'vitest';
import { keepJobRelays } from '../../../src/agent/jobs/keep-job-relays.ts';
import { silentLogger } from '../../../src/ports/logger.ts';
import { until } from '../../support/until.ts';

it('leaves at most one abort listener on the agent signal however many passes ran', async () => {
  const agent = new AbortController();
  let passes = 0;
  const most = { listeners: 0 };
  const runtime = {
    list: () => {
      passes += 1;
      most.listeners = Math.max(most.listeners, getEventListeners(agent.signal, 'abort').length);
      return Promise.resolve([]);
    },
    exec: () => Promise.reject(new Error('no guest here')),
  };
  const api = { call: () => Promise.reject(new Error('no coordinator here')) };
  const relays = keepJobRelays({
    api: api as never,
    nodeId: 'n1',
    runtime: runtime as never,
    logger: silentLogger,
    signal: agent.signal,
    everyMs: 1,
  });
  await until('40 passes', () => (passes >= 40 ? true : undefined), 20_000, 5);
  agent.abort();
  await relays.done;
  expect(passes).toBeGreaterThanOrEqual(40);
  expect(most.listeners).toBeLessThanOrEqual(1);
  expect(getEventListeners(agent.signal, 'abort')).toHaveLength(0);
});
