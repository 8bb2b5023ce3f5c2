/**
 * `mvm events --follow` end to end over HTTP on SQLite and Postgres: the coordinator streams
 * audit events as server-sent events and the CLI's reader gets each one as it is written; a
 * tenant's token follows only its own tenant; Last-Event-ID resumes; bad input is a 400.
 */
import { describe, expect, it } from 'vitest';
import { followEvents } from '../../src/cli/commands/events/follow-events.ts';
import type { AuditEventView } from '../../src/contract/resources.ts';
import { databasesUnderTest } from '../support/databases.ts';
import { serveForSuite } from '../support/served-coordinator.ts';
import { until } from '../support/until.ts';

const ADMIN = 'follow-admin-token-0123456789abcdef';

for (const db of await databasesUnderTest()) {
  describe.skipIf(db.skipReason !== undefined)(`events --follow [${db.name}]`, () => {
    const served = serveForSuite(db, 'mvm-follow-', ADMIN);
    const admin = () => served.client();

    function follow(token: string, query: { tenant?: string; after: number }) {
      const got: AuditEventView[] = [];
      const stop = new AbortController();
      const client = served.client(token);
      const done = followEvents(client, query, stop.signal, (e) => got.push(e));
      return { got, stop: async () => (stop.abort(), await done) };
    }

    it('streams each event as it is written, to the admin and to its own tenant only', async () => {
      const api = admin();
      await api.call('createTenant', { body: { id: 'acme', netId: 42 } });
      const token = (
        await api.call('createToken', { params: { tenant: 'acme' }, body: { name: 'f' } })
      ).token;
      const [newest] = await api.call('listEvents', { query: { last: 1 } });
      const all = follow(ADMIN, { after: newest?.id ?? 0 });
      const own = follow(token, { after: newest?.id ?? 0 });
      await api.call('createTenant', { body: { id: 'other', netId: 43 } });
      await api.call('createPool', {
        params: { tenant: 'acme' },
        body: { id: 'web', vcpus: 1, memMib: 256 },
      });
      await until(
        'events to arrive',
        () => (all.got.length >= 2 && own.got.length >= 1) || undefined,
        10_000,
      );
      await all.stop();
      await own.stop();
      expect(all.got.map((e) => [e.tenantId, e.action])).toEqual([
        ['other', 'tenant.create'],
        ['acme', 'pool.create'],
      ]);
      expect(own.got.map((e) => [e.tenantId, e.action])).toEqual([['acme', 'pool.create']]);
    });

    it('resumes after the Last-Event-ID it is given; a bad query is a 400', async () => {
      const api = admin();
      const events = await api.call('listEvents', { query: { last: 3 } });
      const oldest = events[events.length - 1];
      const response = await fetch(`${served.url()}/v1/events/follow`, {
        headers: { authorization: `Bearer ${ADMIN}`, 'last-event-id': String(oldest?.id ?? 0) },
      });
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      const reader = response.body!.getReader();
      let text = '';
      while ((text.match(/^id: /gm) ?? []).length < events.length - 1) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      await reader.cancel();
      const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual(
        events
          .slice(0, -1)
          .map((e) => e.id)
          .reverse(),
      );
      const bad = await fetch(`${served.url()}/v1/events/follow?after=-1`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(bad.status).toBe(400);
      await bad.body?.cancel();
    });
  });
}
