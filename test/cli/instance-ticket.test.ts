/**
 * `mvm instance ticket` on SQLite and Postgres, against a real coordinator whose node tunnel
 * is served by the agent's tunnel client and the static guest agent on this host
 * (test/support/exec-world.ts). The ticket it prints opens its socket with no header, as a
 * browser's terminal does: a pty session whose output, size and exit code come back. A tenant's
 * token gets no ticket for another tenant's instance (the CLI's "not found" exit 4), nor a pty
 * there with its header, nor with its own instance's ticket; a bad session kind is a usage
 * error that mints nothing.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { sessionStartSchema } from '../../src/contract/exec.ts';
import type { SessionStartInput } from '../../src/contract/exec.ts';
import { ClientSession } from '../../src/drivers/exec-tunnel/client-session.ts';
import { collect } from '../support/exec-output.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { openSessionSocket } from '../support/session-socket.ts';

const open = openSessionSocket;

async function run(ws: WebSocket, start: SessionStartInput) {
  const io = { stdout: new PassThrough(), stderr: new PassThrough() };
  const stdout = collect(io.stdout);
  const session = new ClientSession(ws, sessionStartSchema.parse(start), io);
  const exit = await session.exit;
  io.stdout.end();
  io.stderr.end();
  return { exit, stdout: (await stdout).toString() };
}

interface Printed {
  ticket: string;
  session: string;
  expiresAt: string;
  path: string;
  url: string;
}

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`mvm instance ticket [${db.name}]`, () => {
    let world: ExecWorld;
    let database: Awaited<ReturnType<typeof db.open>>;

    beforeAll(async () => {
      database = await db.open();
      world = await startExecWorld(database.url);
    }, 120_000);
    afterAll(async () => {
      await world?.close();
      await database?.cleanup();
    });

    const ticketOf = async (ref: string, extra: string[] = []) => {
      const r = await world.mvm(['instance', 'ticket', ref, '--json', ...extra], {
        token: world.tokens.acme,
      });
      return {
        ...r,
        printed: r.code === 0 ? (JSON.parse(r.stdout.toString()) as Printed) : undefined,
      };
    };

    it('prints a ticket whose URL opens a terminal with no header: output, size, exit code', async () => {
      const { code, printed } = await ticketOf(world.ref);
      expect(code).toBe(0);
      expect(printed).toMatchObject({
        ticket: expect.stringMatching(/^mvmt_[A-Za-z0-9_-]{43}$/),
        session: 'exec',
        path: `/v1/tenants/acme/pools/web/instances/${world.instance}/exec`,
      });
      const url = new URL(printed?.url ?? '');
      expect(url.protocol).toBe('ws:');
      expect(url.host).toBe(new URL(world.url).host);
      expect(url.searchParams.get('ticket')).toBe(printed?.ticket);
      const socket = await open(url.toString());
      if (!('opened' in socket)) throw new Error(`refused: ${socket.refused} ${socket.body}`);
      const result = await run(socket.opened, {
        kind: 'pty',
        argv: ['/bin/sh', '-c', 'stty size; exit 5'],
        cols: 100,
        rows: 30,
      });
      expect(result.exit.code).toBe(5);
      expect(result.stdout).toContain('30 100');
      const events = await world.api.call('listEvents', { query: { tenant: 'acme', last: 20 } });
      expect(events.find((e) => e.action === 'instance.shell')).toMatchObject({
        actor: 'tenant:acme:acme-ci',
        detail: { tty: true, exitCode: 5 },
      });
      // Single use: the same URL opens nothing again.
      expect(await open(url.toString())).toMatchObject({ refused: 401 });
    });

    it('mints a logs ticket with --session logs', async () => {
      const { code, printed } = await ticketOf(world.ref, ['--session', 'logs']);
      expect(code).toBe(0);
      expect(printed?.session).toBe('logs');
      expect(printed?.path).toMatch(/\/logs$/);
    });

    it("reaches no other tenant's instance: no ticket, no terminal by header or by ticket", async () => {
      const before = await world.api.call('listEvents', { query: { last: 100 } });
      const refused = await ticketOf(world.rivalRef);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/not found/i);
      const after = await world.api.call('listEvents', { query: { last: 100 } });
      expect(after.filter((e) => e.action === 'instance.ticket').length).toBe(
        before.filter((e) => e.action === 'instance.ticket').length,
      );

      const [tenant, pool, instance] = world.rivalRef.split('/');
      const rivalExec = `${world.url.replace(/^http/, 'ws')}/v1/tenants/${tenant}/pools/${pool}/instances/${instance}/exec`;
      // With the tenant's header: the 404 of a missing instance.
      const byHeader = await open(rivalExec, { authorization: `Bearer ${world.tokens.acme}` });
      expect(byHeader).toMatchObject({ refused: 404 });
      // With a ticket for its own instance: refused, and not spent.
      const own = await ticketOf(world.ref);
      const byTicket = await open(`${rivalExec}?ticket=${own.printed?.ticket ?? ''}`);
      expect(byTicket).toMatchObject({ refused: 401 });
      const still = await open(own.printed?.url ?? '');
      expect('opened' in still).toBe(true);
      if ('opened' in still) still.opened.close();
    });

    it('refuses an unknown session kind as a usage error, minting nothing', async () => {
      const before = await world.api.call('listEvents', { query: { last: 100 } });
      const r = await ticketOf(world.ref, ['--session', 'shell']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/not one of: exec, logs/);
      const after = await world.api.call('listEvents', { query: { last: 100 } });
      const minted = (events: typeof after) =>
        events.filter((e) => e.action === 'instance.ticket').length;
      expect(minted(before)).toBeGreaterThan(0);
      expect(minted(after)).toBe(minted(before));
    });
  });
}
