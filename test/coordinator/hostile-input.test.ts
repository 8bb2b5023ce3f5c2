import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN, apiOver, errorCode, type Api } from './api-client-harness.ts';
import { storeSnapshot } from './store-snapshot.ts';

/**
 * Input the contract once let through to the database (issue 10, item 3): NUL characters,
 * integers wider than the 32-bit columns, megabyte strings, bidi and ANSI control characters,
 * label maps without end, and bodies over the size limit. Each must be refused with a 4xx
 * naming the field, and change nothing, on SQLite and Postgres alike.
 */
const INT32_OVERFLOW = 2 ** 31;
const MEGABYTE = 'x'.repeat(1_000_000);
const capacity = { vcpus: 2, memMib: 4096, diskGib: 100 };
const node = { hostname: 'kvm-2', arch: 'x86_64', capacity };
const pool = { id: 'p2', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 };

async function fixture(api: Api): Promise<string> {
  const steps: Array<[string, string, unknown]> = [
    ['POST', '/tenants', { id: 't1', netId: 1 }],
    ['POST', '/tenants/t1/pools', { ...pool, id: 'p1' }],
    ['POST', '/tenants/t1/pools/p1/scale', { running: 1 }],
    ['PUT', '/nodes/n1', { ...node, hostname: 'kvm-1' }],
    ['POST', '/tenants/t1/tokens', { name: 'ci' }],
  ];
  for (const [method, path, body] of steps) {
    const answer = await api.call(method, path, { body });
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${JSON.stringify(answer.body)}`);
  }
  const instances = (await api.call('GET', '/instances?tenant=t1')).body as Array<{ id: string }>;
  return `/tenants/t1/pools/p1/instances/${instances[0]?.id ?? 'missing'}`;
}

/** [what, method, path, body, field the refusal must name] */
type Case = [string, string, string, unknown, string];

function cases(instance: string): Case[] {
  const status = `/nodes/n1/instances/t1/p1/${instance.split('/').pop() ?? ''}/status`;
  const labels = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, 'v']));
  const unknown = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`-${i}\u0000`, 1]));
  return [
    ['NUL in flake', 'POST', '/tenants/t1/pools', { ...pool, flake: 'github:a\u0000b' }, 'flake'],
    ['NUL in revision', 'POST', '/tenants/t1/pools', { ...pool, revision: 'r\u0000' }, 'revision'],
    [
      'NUL in revision update',
      'PATCH',
      '/tenants/t1/pools/p1',
      { revision: 'a\u0000' },
      'revision',
    ],
    ['NUL in token name', 'POST', '/tenants/t1/tokens', { name: 'ci\u0000' }, 'name'],
    ['NUL in hostname', 'PUT', '/nodes/n2', { ...node, hostname: 'h\u0000' }, 'hostname'],
    ['NUL in arch', 'PUT', '/nodes/n2', { ...node, arch: 'x86\u0000' }, 'arch'],
    [
      'expectedVersion over int32 (tenant)',
      'PATCH',
      '/tenants/t1',
      { quotas: { maxRunning: 5 }, expectedVersion: INT32_OVERFLOW },
      'expectedVersion',
    ],
    [
      'expectedVersion over int32 (pool)',
      'PATCH',
      '/tenants/t1/pools/p1',
      { pinned: true, expectedVersion: INT32_OVERFLOW },
      'expectedVersion',
    ],
    [
      'expectedVersion over int32 (scale)',
      'POST',
      '/tenants/t1/pools/p1/scale',
      { running: 0, expectedVersion: INT32_OVERFLOW },
      'expectedVersion',
    ],
    [
      'expectedVersion over int32 (action)',
      'POST',
      `${instance}/actions`,
      { action: 'stop', expectedVersion: INT32_OVERFLOW },
      'expectedVersion',
    ],
    [
      'capacity over int32',
      'PUT',
      '/nodes/n2',
      { ...node, capacity: { ...capacity, vcpus: INT32_OVERFLOW } },
      'capacity.vcpus',
    ],
    [
      'capacity over int32 (memory)',
      'PUT',
      '/nodes/n2',
      { ...node, capacity: { ...capacity, memMib: INT32_OVERFLOW } },
      'capacity.memMib',
    ],
    [
      'capacity over int32 (heartbeat)',
      'POST',
      '/nodes/n1/heartbeat',
      {
        capacity: { ...capacity, diskGib: INT32_OVERFLOW },
        usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1 },
        instances: [],
      },
      'capacity.diskGib',
    ],
    ['netId over the design ceiling', 'POST', '/tenants', { id: 't9', netId: 4096 }, 'netId'],
    ['vcpus over 32', 'POST', '/tenants/t1/pools', { ...pool, vcpus: 33 }, 'vcpus'],
    ['memMib under 128', 'POST', '/tenants/t1/pools', { ...pool, memMib: 64 }, 'memMib'],
    ['1 MB flake', 'POST', '/tenants/t1/pools', { ...pool, flake: MEGABYTE }, 'flake'],
    ['1 MB revision', 'PATCH', '/tenants/t1/pools/p1', { revision: MEGABYTE }, 'revision'],
    ['1 MB hostname', 'PUT', '/nodes/n2', { ...node, hostname: MEGABYTE }, 'hostname'],
    ['1 MB token name', 'POST', '/tenants/t1/tokens', { name: MEGABYTE }, 'name'],
    ['1 MB label', 'PUT', '/nodes/n2', { ...node, labels: { rack: MEGABYTE } }, 'labels'],
    ['RTL override in token name', 'POST', '/tenants/t1/tokens', { name: 'a\u202Etxt' }, 'name'],
    ['RTL mark in token name', 'POST', '/tenants/t1/tokens', { name: 'ci\u200F' }, 'name'],
    ['bidi isolate in hostname', 'PUT', '/nodes/n2', { ...node, hostname: 'a\u2067b' }, 'hostname'],
    ['ANSI escape in token name', 'POST', '/tenants/t1/tokens', { name: '\u001b[31m' }, 'name'],
    [
      'ANSI escape in revision',
      'PATCH',
      '/tenants/t1/pools/p1',
      { revision: '\u001b[2J' },
      'revision',
    ],
    ['C1 control in arch', 'PUT', '/nodes/n2', { ...node, arch: 'x\u009b1m' }, 'arch'],
    [
      'ANSI escape in failure reason',
      'PUT',
      status,
      { status: 'failed', failureReason: 'boom\u001b[2J' },
      'failureReason',
    ],
    ['20,000 labels', 'PUT', '/nodes/n2', { ...node, labels }, 'labels'],
    [
      '1 MB label key',
      'PUT',
      '/nodes/n2',
      { ...node, labels: { [`-${MEGABYTE}`]: 'v' } },
      'labels',
    ],
    ['20,000 unknown fields', 'POST', '/tenants', { id: 't9', ...unknown }, 'unknown field(s)'],
    ['label key with a space', 'PUT', '/nodes/n2', { ...node, labels: { 'a b': 'c' } }, 'labels'],
  ];
}

function problemsOf(body: unknown): string {
  return JSON.stringify((body as { error?: unknown }).error ?? body);
}

await describeEachDatabase('hostile input', (db) => {
  it('refuses what the columns cannot hold or an operator should not see, changing nothing', async () => {
    const api = await apiOver(db.store());
    const instance = await fixture(api);
    const before = await storeSnapshot(db.store(), ['n1', 'n2']);
    for (const [what, method, path, body, field] of cases(instance)) {
      const answer = await api.call(method, path, { body });
      // Soft: one run lists every case that fails, not just the first.
      expect.soft({ what, status: answer.status, code: errorCode(answer) }).toEqual({
        what,
        status: 400,
        code: 'invalid_argument',
      });
      expect.soft(problemsOf(answer.body), what).toContain(field);
      // A refusal names the field; it never echoes a megabyte back.
      expect.soft(JSON.stringify(answer.body).length, what).toBeLessThan(20_000);
    }
    expect(await storeSnapshot(db.store(), ['n1', 'n2'])).toEqual(before);
  });

  it('answers 413 to a body over the limit, declared or chunked, before reading it all', async () => {
    const api = await apiOver(db.store());
    await fixture(api);
    const before = await storeSnapshot(db.store(), ['n1']);
    const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const huge = JSON.stringify({ id: 't2', padding: 'x'.repeat(20 * 1024 * 1024) });
    const declared = await api.request('/tenants', {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(huge)) },
      body: huge,
    });
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const chunked = await api.request('/tenants', {
      method: 'POST',
      headers,
      duplex: 'half',
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"id":"t3","p":"'));
          sent += chunk.length;
          if (sent > 4 * 1024 * 1024) controller.close();
          else controller.enqueue(chunk);
        },
      }),
    } as RequestInit);
    for (const response of [declared, chunked]) {
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect([response.status, body.error.code]).toEqual([413, 'payload_too_large']);
      expect(body.error.message).toMatch(/1 MiB/);
    }
    // The chunked body was cut off at the limit, not read to its end.
    expect(sent).toBeLessThan(2 * 1024 * 1024);
    expect(await storeSnapshot(db.store(), ['n1'])).toEqual(before);
  });
});
