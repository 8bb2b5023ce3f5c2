/**
 * A hello that goes unanswered (as one did on about 1 wake in 18 under TCG, right after the
 * guest resumed) costs one short wait, not the whole 15 s: the client opens a fresh connection
 * after 1 s, then waits twice as long each time, up to 15 s. Against a real unix socket that
 * swallows the first connection's hello and answers the next.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  GuestAgentClient,
  helloWaitMs,
} from '../../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../../src/drivers/guest-channel/guest-transport.ts';
import { startFakeGuest, type FakeGuest } from '../../support/fake-guest.ts';

describe('the hello wait per connection', () => {
  let guest: FakeGuest | undefined;
  afterEach(async () => {
    await guest?.close();
    guest = undefined;
  });

  it('grows 1 s, 2 s, 4 s, 8 s, then stays at 15 s', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(helloWaitMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000,
    ]);
  });

  it('opens a fresh connection when the first hello is never answered, and is ready on it', async () => {
    let swallowed = false;
    guest = await startFakeGuest({
      // The first connection reads the hello and says nothing, ever.
      beforeHello: () => {
        if (swallowed) return;
        swallowed = true;
        return new Promise<void>(() => undefined);
      },
    });
    const client = new GuestAgentClient(unixSocketTransport(guest.path), {
      requestTimeoutMs: 20_000,
    });
    const started = Date.now();
    const info = await client.waitReady(20_000);
    const tookMs = Date.now() - started;
    expect(info.proto).toBe(2);
    expect(guest.connections).toBe(2);
    // One short wait, then the answer: well inside the old single 15 s wait.
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(10_000);
    client.close();
  });
});
