/**
 * The tunnel's framing and the coordinator's guard over it, without a VM: frames round-trip
 * and malformed ones are refused; the credit rules; and against a real coordinator, an agent
 * stand-in written with raw frames that breaks the rules: output past the client's credit
 * ends the session (the coordinator never buffers it), a text message drops the tunnel, and
 * a newer tunnel of the same node replaces the older one.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { TunnelFrame, tunnelRequestSchema } from '../../src/contract/exec.ts';
import { CreditLedger, ReceiveCredit } from '../../src/drivers/exec-tunnel/credit.ts';
import {
  decodeTunnelFrame,
  encodeTunnelCredit,
  encodeTunnelFrame,
  encodeTunnelJson,
} from '../../src/drivers/exec-tunnel/tunnel-frames.ts';
import { cliAt } from '../support/exec-world.ts';
import { serveForSuite } from '../support/served-coordinator.ts';
import { databasesUnderTest } from '../support/databases.ts';

const ADMIN = 'tunnel-protocol-admin-token-0123456789';
const types = Object.values(TunnelFrame);

describe('tunnel frames', () => {
  it('round-trip any type, stream and payload', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...types.filter((t) => t !== TunnelFrame.credit)),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.uint8Array({ maxLength: 2048 }),
        (type, stream, payload) => {
          const frame = decodeTunnelFrame(encodeTunnelFrame(type, stream, payload));
          expect(frame).toEqual({ type, stream, payload: Buffer.from(payload) });
        },
      ),
    );
    expect(decodeTunnelFrame(encodeTunnelCredit(7, 65536))).toMatchObject({
      type: TunnelFrame.credit,
      stream: 7,
    });
  });

  it('refuses what no peer of ours sends', () => {
    expect(() => decodeTunnelFrame(Buffer.from([1, 0, 0]))).toThrow(/shorter than its header/);
    expect(() => decodeTunnelFrame(encodeTunnelFrame(1, 1).fill(9, 0, 1))).toThrow(
      /unknown tunnel frame type 9/,
    );
    expect(() =>
      decodeTunnelFrame(encodeTunnelFrame(TunnelFrame.credit, 1, Buffer.alloc(3))),
    ).toThrow(/not 4/);
  });
});

describe('credit', () => {
  it('grants back a quarter window at a time, and catches an overdrawn sender', () => {
    const granted: number[] = [];
    const credit = new ReceiveCredit(1000, (bytes) => granted.push(bytes));
    expect(credit.receive(600)).toBe(true);
    credit.consume(200);
    expect(granted).toEqual([]);
    credit.consume(100);
    expect(granted).toEqual([300]);
    expect(credit.receive(700)).toBe(true); // 1300 granted in all
    expect(credit.receive(1)).toBe(false);
  });

  it('lets a relay pass on at most the window, and spots output past it', () => {
    const ledger = new CreditLedger(100);
    expect(ledger.spend(100)).toBe(true);
    expect(ledger.grant(1_000_000)).toBe(100);
    expect(ledger.grant(5)).toBe(0);
    expect(ledger.spend(101)).toBe(false);
  });
});

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(
    `the coordinator against a tunnel that breaks the rules [${db.name}]`,
    () => {
      const served = serveForSuite(db, 'mvm-tunnel-proto-', ADMIN, {
        settings: { execTimeouts: { tunnelMs: 2_000 } },
      });
      let ref: string;

      beforeAll(async () => {
        const api = served.client();
        const capacity = { vcpus: 4, memMib: 4096, diskGib: 10 };
        await api.call('registerNode', {
          params: { node: 'n1' },
          body: { hostname: 'n1', arch: 'x86_64', capacity },
        });
        await api.call('createTenant', { body: { id: 'acme' } });
        await api.call('createPool', {
          params: { tenant: 'acme' },
          body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 },
        });
        const scaled = await api.call('scalePool', {
          params: { tenant: 'acme', pool: 'web' },
          body: { running: 1 },
        });
        const id = scaled.created[0]?.id ?? '';
        await api.call('runScheduler', {});
        await api.call('reportInstanceStatus', {
          params: { node: 'n1', tenant: 'acme', pool: 'web', instance: id },
          body: { status: 'running' },
        });
        ref = `acme/web/${id}`;
      });

      /** An agent stand-in: answers every open with `reply(stream, socket)`. */
      async function rawAgent(
        reply: (stream: number, socket: WebSocket) => void,
      ): Promise<WebSocket> {
        const socket = new WebSocket(`${served.url().replace(/^http/, 'ws')}/v1/nodes/n1/tunnel`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        await new Promise((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
        });
        socket.on('message', (data: Buffer) => {
          const frame = decodeTunnelFrame(data);
          if (frame.type !== TunnelFrame.control) return;
          const request = tunnelRequestSchema.parse(JSON.parse(frame.payload.toString('utf8')));
          if (request.type === 'open') reply(frame.stream, socket);
        });
        return socket;
      }

      it('ends a session whose node sends output past the credit, without holding it', async () => {
        const flood = await rawAgent((stream, socket) => {
          socket.send(encodeTunnelJson(stream, { type: 'started', pid: 1, stdinWindow: 0 }));
          const chunk = Buffer.alloc(64 * 1024, 0x61);
          // Twice the default window, with no credit granted back.
          for (let i = 0; i < 8; i++)
            socket.send(encodeTunnelFrame(TunnelFrame.stdout, stream, chunk));
        });
        const mvm = cliAt(served.url(), ADMIN);
        const run = await mvm(['instance', 'exec', ref, '--', 'yes'], { slowStdoutMs: 1_000 });
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/sent output past the client's credit/);
        expect(run.stdout.length).toBeLessThanOrEqual(256 * 1024);
        flood.close();
      });

      it('drops a tunnel that breaks the framing, and a replaced one', async () => {
        const first = await rawAgent(() => undefined);
        const closed = new Promise<number>((resolve) => first.once('close', resolve));
        const second = await rawAgent(() => undefined);
        expect(await closed).toBe(4000);
        const dropped = new Promise<number>((resolve) => second.once('close', resolve));
        second.send('not a frame');
        expect(await dropped).toBe(1002);
        // No tunnel now: a session waits for one, then says why it cannot reach the node.
        const run = await cliAt(served.url(), ADMIN)(['instance', 'exec', ref, '--', 'true']);
        expect(run.code).toBe(7);
        expect(run.stderr).toMatch(/node 'n1' has no tunnel to this coordinator/);
      });
    },
  );
}
