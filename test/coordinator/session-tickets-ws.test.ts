/**
 * Session tickets on the real WebSocket routes, on SQLite and Postgres, without a VM: a real
 * coordinator, a node tunnel served by the agent's tunnel client, the static guest agent on
 * this host (test/support/exec-world.ts). A ticket opens its one session with no header, as a
 * browser must: a command's output and exit code, the console; the exec is audited under the
 * token that minted the ticket and names it. A second use, another kind's, another instance's
 * ticket is answered 401 and opens nothing; of concurrent uses exactly one opens.
 */
import { appendFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ClientSession } from '../../src/drivers/exec-tunnel/client-session.ts';
import { sessionStartSchema } from '../../src/contract/exec.ts';
import type { SessionStartInput } from '../../src/contract/exec.ts';
import type { SessionTicketView } from '../../src/contract/session-tickets.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { collect } from '../support/exec-output.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { startExecWorld, type ExecWorld } from '../support/exec-world.ts';
import { openSessionSocket, type Opened } from '../support/session-socket.ts';

/** Opens the ticket's socket with no Authorization header, as a browser does. */
function openWithTicket(
  base: string,
  ticket: SessionTicketView,
  path = ticket.path,
): Promise<Opened> {
  const url = `${base.replace(/^http/, 'ws')}${path}?ticket=${encodeURIComponent(ticket.ticket)}`;
  return openSessionSocket(url);
}

async function run(ws: WebSocket, start: SessionStartInput) {
  const io = { stdout: new PassThrough(), stderr: new PassThrough() };
  const stdout = collect(io.stdout);
  const stderr = collect(io.stderr);
  const session = new ClientSession(ws, sessionStartSchema.parse(start), io);
  const exit = await session.exit;
  io.stdout.end();
  io.stderr.end();
  return { exit, stdout: (await stdout).toString(), stderr: (await stderr).toString() };
}

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`session tickets on sockets [${db.name}]`, () => {
    let world: ExecWorld;
    let database: Awaited<ReturnType<typeof db.open>>;
    let acme: ApiClient;
    let params: { tenant: string; pool: string; instance: string };

    beforeAll(async () => {
      database = await db.open();
      world = await startExecWorld(database.url);
      acme = createApiClient({ baseUrl: world.url, token: world.tokens.acme });
      params = { tenant: 'acme', pool: 'web', instance: world.instance };
    }, 120_000);
    afterAll(async () => {
      await world?.close();
      await database?.cleanup();
    });

    const mint = (session: 'exec' | 'logs', client = acme, at = params) =>
      client.call('createSessionTicket', { params: at, body: { session } });

    it('runs a command with an exec ticket, audited under the minting token, and naming the ticket', async () => {
      const ticket = await mint('exec');
      const socket = await openWithTicket(world.url, ticket);
      if (!('opened' in socket)) throw new Error(`refused: ${socket.refused} ${socket.body}`);
      const result = await run(socket.opened, {
        kind: 'exec',
        argv: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'],
        stdin: false,
      });
      expect(result).toMatchObject({ exit: { code: 3 }, stdout: 'out\n', stderr: 'err\n' });
      const events = await world.api.call('listEvents', { query: { tenant: 'acme', last: 20 } });
      const minted = events.find((e) => e.action === 'instance.ticket');
      const exec = events.find((e) => e.action === 'instance.exec');
      const tokens = await world.api.call('listTokens', { params: { tenant: 'acme' } });
      const tokenId = tokens.find((t) => t.name === 'acme-ci')?.id;
      expect(minted).toMatchObject({
        actor: 'tenant:acme:acme-ci',
        detail: { session: 'exec', tokenId },
      });
      expect(exec).toMatchObject({
        actor: 'tenant:acme:acme-ci',
        target: `acme/web/${world.instance}`,
        detail: { exitCode: 3, tokenId, ticketId: minted?.detail['ticketId'] },
      });
      expect(JSON.stringify(events)).not.toContain(ticket.ticket);

      // Spent: a second use is refused and opens nothing.
      const again = await openWithTicket(world.url, ticket);
      expect(again).toMatchObject({ refused: 401 });
      expect((again as { body: string }).body).toMatch(/already used/);
    });

    it('follows the console with a logs ticket, reading what is written next', async () => {
      await appendFile(world.consoleFile, 'before the ticket\n');
      const ticket = await mint('logs');
      expect(ticket.path).toBe(`/v1/tenants/acme/pools/web/instances/${world.instance}/logs`);
      const socket = await openWithTicket(world.url, ticket);
      if (!('opened' in socket)) throw new Error(`refused: ${socket.refused} ${socket.body}`);
      const result = await run(socket.opened, { kind: 'logs', console: true, tail: 1 });
      expect(result).toMatchObject({ exit: { code: 0 }, stdout: 'before the ticket\n' });
    });

    it("refuses another kind's, another instance's and a made-up ticket with 401", async () => {
      const logs = await mint('logs');
      const execPath = logs.path.replace(/\/logs$/, '/exec');
      expect(await openWithTicket(world.url, logs, execPath)).toMatchObject({ refused: 401 });
      const exec = await mint('exec');
      const rivalPath = world.rivalRef.split('/');
      const other = `/v1/tenants/${rivalPath[0]}/pools/${rivalPath[1]}/instances/${rivalPath[2]}/exec`;
      expect(await openWithTicket(world.url, exec, other)).toMatchObject({ refused: 401 });
      const forged = { ...exec, ticket: `mvmt_${'Z'.repeat(43)}` };
      expect(await openWithTicket(world.url, forged)).toMatchObject({ refused: 401 });
      // Refused elsewhere, the ticket was not spent: its own route still opens.
      const own = await openWithTicket(world.url, exec);
      expect('opened' in own).toBe(true);
      if ('opened' in own) own.opened.close();
      // And a tenant cannot mint one for another tenant's instance: the 404 of a missing one.
      const rival = rivalPath as [string, string, string];
      await expect(
        mint('exec', acme, { tenant: rival[0], pool: rival[1], instance: rival[2] }),
      ).rejects.toMatchObject({ code: 'not_found' });
    });

    it('opens exactly one of four concurrent uses of one ticket', async () => {
      const ticket = await mint('exec');
      const results = await Promise.all(
        Array.from({ length: 4 }, () => openWithTicket(world.url, ticket)),
      );
      const opened = results.filter((r): r is { opened: WebSocket } => 'opened' in r);
      const refused = results.filter((r) => 'refused' in r);
      expect(opened).toHaveLength(1);
      expect(refused).toEqual(Array(3).fill(expect.objectContaining({ refused: 401 })));
      const result = await run(opened[0]!.opened, {
        kind: 'exec',
        argv: ['/bin/sh', '-c', 'echo once'],
        stdin: false,
      });
      expect(result).toMatchObject({ exit: { code: 0 }, stdout: 'once\n' });
    });
  });
}
