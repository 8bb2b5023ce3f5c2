/**
 * An exec's `exit` (and a get's `done`) settles only once the output that came with it has
 * reached the streams' readers. The real mvm-agent binary on the host over a unix socket; the
 * host's event loop is held while the command runs, so the answer, the output and the exit
 * arrive in one read every time (test/support/exec-race.ts). Before the fix a caller that
 * listened for `data` and awaited `exit` got an empty stdout with code 0 here, every time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { collect } from '../support/exec-output.ts';
import { listenThenAwaitExit, sendThenHold, watchedTransport } from '../support/exec-race.ts';
import { startHostAgent } from '../support/host-agent.ts';
import type { HostAgent } from '../support/host-agent.ts';

const HOLD_MS = 150;
let agent: HostAgent;
let client: GuestAgentClient;
let transport: ReturnType<typeof watchedTransport>;

beforeAll(async () => {
  agent = await startHostAgent();
  transport = watchedTransport(agent.socket);
  client = new GuestAgentClient(transport, { requestTimeoutMs: 10_000 });
  await client.waitReady(10_000);
}, 120_000);
afterAll(async () => {
  client.close();
  await agent.stop();
});

describe('output that arrives in the same read as the exit', () => {
  it('reaches data listeners before exit settles (stdout and stderr, every time)', async () => {
    for (let i = 0; i < 10; i += 1) {
      const result = await listenThenAwaitExit(
        client,
        { argv: ['sh', '-c', `echo out-${i}; echo err-${i} >&2`] },
        { socket: transport.socket(), ms: HOLD_MS },
      );
      expect(result).toEqual({
        stdout: `out-${i}\n`,
        stderr: `err-${i}\n`,
        exit: { code: 0, timedOut: false },
      });
    }
  });

  it('a caller that reads neither stream still gets the exit, and the bytes after it', async () => {
    const run = await sendThenHold(
      transport.socket(),
      () => client.exec({ argv: ['sh', '-c', 'echo kept; echo kept-err >&2'] }),
      HOLD_MS,
    );
    expect(await run.exit).toEqual({ code: 0, timedOut: false });
    const [out, err] = await Promise.all([collect(run.stdout), collect(run.stderr)]);
    expect([out.toString(), err.toString()]).toEqual(['kept\n', 'kept-err\n']);
  });

  it('a get: the content reaches its data listener before done settles', async () => {
    const file = await sendThenHold(
      transport.socket(),
      () => client.getFile('/etc/hostname'),
      HOLD_MS,
    );
    const chunks: Buffer[] = [];
    file.content.on('data', (chunk: Buffer) => chunks.push(chunk));
    const { bytes } = await file.done;
    expect(bytes).toBe(file.size);
    expect(Buffer.concat(chunks).length).toBe(file.size);
    expect(file.size).toBeGreaterThan(0);
  });
});
