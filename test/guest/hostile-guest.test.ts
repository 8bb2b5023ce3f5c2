/**
 * The guest side is a tenant's code: its agent may lie. The host's channel parser (the
 * GuestAgentClient and its AgentConnection) meets malformed, oversized and never-ending
 * frames from a fake guest over a real unix socket, fuzzed with fast-check: every call
 * settles in time, a lie is reported once with what it was and the client refuses that guest
 * afterwards, and nothing the guest sends grows the host's memory past its bounds.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameType } from '../../src/contract/guest-protocol-v2.ts';
import { MvmError } from '../../src/core/errors.ts';
import { MAX_V1_LINE } from '../../src/drivers/guest-channel/agent-connection.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import type { GuestAgentClientOptions } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { frame, startFakeGuest } from '../support/fake-guest.ts';
import type { FakeGuest, FakeGuestScript } from '../support/fake-guest.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const RUNS = Number(process.env.MVM_FUZZ_RUNS ?? 40);
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups.length = 0;
});

interface Client {
  client: GuestAgentClient;
  lies: string[];
}

function clientOf(guest: FakeGuest, options: GuestAgentClientOptions = {}): Client {
  const lies: string[] = [];
  const client = new GuestAgentClient(unixSocketTransport(guest.path), {
    requestTimeoutMs: 2_000,
    connectTimeoutMs: 2_000,
    frameStallMs: 300,
    onViolation: (reason) => lies.push(reason),
    ...options,
  });
  return { client, lies };
}

async function guestWith(script: FakeGuestScript): Promise<FakeGuest> {
  const guest = await startFakeGuest(script);
  cleanups.push(() => guest.close());
  return guest;
}

/** How a call ended, and how long it took. */
async function outcome(call: Promise<unknown>): Promise<{ error?: Error; ms: number }> {
  const started = performance.now();
  try {
    await call;
    return { ms: performance.now() - started };
  } catch (error) {
    return { error: error as Error, ms: performance.now() - started };
  }
}

// What a lying guest may answer a request with: raw bytes, frames with any header, answers
// on the request's own stream with any payload, in any sequence.
const part = fc.oneof(
  fc.uint8Array({ maxLength: 2_048 }).map((bytes) => () => Buffer.from(bytes)),
  fc
    .record({
      magic: fc.constantFrom(0xb7, 0xb7, 0x00, 0x7b),
      type: fc.integer({ min: 0, max: 255 }),
      stream: fc.option(fc.integer({ min: 0, max: 0xffffffff })),
      length: fc.oneof(
        fc.integer({ min: 0, max: 300 }),
        fc.constant(65_537),
        fc.constant(2 ** 32 - 1),
      ),
      body: fc.uint8Array({ maxLength: 300 }),
    })
    .map((f) => (request: number) => {
      const header = Buffer.alloc(10);
      header[0] = f.magic;
      header[1] = f.type;
      header.writeUInt32BE((f.stream ?? request) >>> 0, 2);
      header.writeUInt32BE(f.length >>> 0, 6);
      return Buffer.concat([header, f.body]);
    }),
  fc
    .oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 2 }))
    .map((text) => (request: number) => frame(FrameType.resp, request, Buffer.from(text))),
);

describe('the host against a hostile guest agent', () => {
  it('fuzz: any answer to a request settles the call in time, and a lie is said once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 5 }), async (parts) => {
        const guest = await startFakeGuest({
          onRequest: (socket, { stream }) => {
            for (const make of parts) socket.write(make(stream));
          },
        });
        const { client, lies } = clientOf(guest);
        try {
          const first = await outcome(client.ping(400));
          // The request timeout, or the frame stall, bounds it: never a hang.
          expect(first.ms).toBeLessThan(400 + 300 + 500);
          if (first.error) expect(first.error).toBeInstanceOf(MvmError);
          expect(lies.length).toBeLessThanOrEqual(1);
          if (lies.length === 1) {
            const again = await outcome(client.ping(400));
            expect(again.error?.message).toMatch(/broke the protocol/);
            expect(guest.connections).toBe(1); // refused without reconnecting
          }
        } finally {
          client.close();
          await guest.close();
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  it.each([
    [
      'a broken magic byte',
      (s: number) => Buffer.concat([Buffer.from([0x00]), frame(2, s).subarray(1)]),
      /bad frame header \(magic 0/,
    ],
    [
      'an oversized frame',
      (s: number) => frame(2, s, Buffer.alloc(65_537)),
      /bad frame header .*length 65537/,
    ],
    [
      'an answer that is not JSON',
      (s: number) => frame(2, s, Buffer.from('{"ok":tru')),
      /answer to 'ping' is not JSON/,
    ],
    [
      'a never-ending frame',
      (s: number) => frame(2, s, Buffer.alloc(1_000)).subarray(0, 50),
      /began a frame \(50 bytes so far\) and sent nothing more for 300 ms/,
    ],
  ])(
    '%s: the call fails at once, the lie is reported, the guest refused',
    async (_, bytes, reason) => {
      const guest = await guestWith({
        onRequest: (socket, { stream }) => socket.write(bytes(stream)),
      });
      const { client, lies } = clientOf(guest);
      cleanups.push(() => client.close());
      const first = await outcome(client.ping(5_000));
      expect(first.error?.message).toMatch(/broke the protocol/);
      expect(first.ms).toBeLessThan(2_000); // not the 5 s request timeout
      expect(lies).toEqual([expect.stringMatching(reason)]);
      expect((await outcome(client.status())).error?.message).toMatch(/broke the protocol/);
    },
  );

  it('output past the credit it was given is a lie, not host memory', async () => {
    const guest = await guestWith({
      onRequest: (socket, { stream, body }) => {
        if (body['op'] !== 'exec') return;
        socket.write(frame(2, stream, Buffer.from('{"ok":true,"pid":7,"stdin_window":1024}')));
        // Ten times the 4 KiB window, without waiting for any credit.
        for (let i = 0; i < 10; i += 1)
          socket.write(frame(FrameType.stdout, stream, Buffer.alloc(4_096)));
      },
    });
    const { client, lies } = clientOf(guest);
    cleanups.push(() => client.close());
    const exec = await client.exec({ argv: ['yes'] }, { windowBytes: 4_096 });
    await expect(exec.exit).rejects.toThrow(/broke the protocol/);
    expect(lies).toEqual([expect.stringMatching(/4096 bytes of output beyond its credit/)]);
  });

  it('a version-1 guest sending a never-ending line is dropped at the line bound', async () => {
    const guest = await guestWith({
      hello: (id) => `${JSON.stringify({ id, ok: false, error: 'unknown op' })}\n`,
      afterHello: (socket) => {
        setTimeout(() => socket.write(Buffer.alloc(MAX_V1_LINE + 1, 0x61)), 200);
      },
    });
    const { client, lies } = clientOf(guest);
    cleanups.push(() => client.close());
    expect((await client.waitReady(2_000)).proto).toBe(1);
    const pending = outcome(client.status(3_000));
    expect((await pending).error?.message).toMatch(/broke the protocol/);
    expect(lies).toEqual([expect.stringMatching(/a line of more than 65536 bytes/)]);
  });

  it('never-ending bytes before the hello answer cost the host a bounded buffer', async () => {
    const MiB = 1024 * 1024;
    const guest = await guestWith({
      // 16 MiB without a newline, then the answer: found, and never held whole.
      // Written as the host reads it, so the fake guest itself holds only one chunk at a time.
      beforeHello: async (socket) => {
        const chunk = Buffer.alloc(MiB, 0x7b);
        for (let i = 0; i < 16; i += 1) {
          if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
        }
        socket.write('\n');
      },
    });
    // What the host holds, not what it dropped and the collector has not freed yet.
    const held = (): number => (gc(), process.memoryUsage().arrayBuffers);
    const before = held();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, held())), 400);
    const { client } = clientOf(guest, { connectTimeoutMs: 20_000 });
    cleanups.push(() => client.close());
    const started = performance.now();
    try {
      const info = await client.waitReady(20_000);
      expect(info.agent).toBe('fake');
    } finally {
      clearInterval(sampler);
    }
    // A line of braces once cost a failed JSON.parse per brace: seconds of a blocked agent.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(peak - before).toBeLessThan(6 * MiB);
  }, 30_000);
});
