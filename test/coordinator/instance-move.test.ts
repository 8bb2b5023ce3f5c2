import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { exportBundle, partFile } from '../../src/drivers/move-bundle/bundle-export.ts';
import { importBundle } from '../../src/agent/move/bundle-import.ts';
import { receivePart } from '../../src/drivers/move-bundle/bundle-receive.ts';
import type { BundleManifest } from '../../src/contract/move-bundle.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN, errorCode } from './api-client-harness.ts';
import { fleetOver, type Fleet, type InstanceJson } from './node-health-harness.ts';

type Json = Record<string, unknown>;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mvm-drn-move-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** node-a runs web (one sleeping, one running) and db (pinned, sleeping); node-b and node-c are empty. */
async function world(
  fleet: Fleet,
): Promise<{ sleeper: InstanceJson; runner: InstanceJson; pinned: InstanceJson }> {
  await fleet.registerNode('node-a', 4);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
  await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', ...pool });
  await fleet.ok('POST', '/tenants/acme/pools', { id: 'db', ...pool, pinned: true });
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1, sleeping: 1 });
  await fleet.ok('POST', '/tenants/acme/pools/db/scale', { sleeping: 1 });
  for (const i of await fleet.instances()) await fleet.report(i, i.desiredStatus);
  await fleet.registerNode('node-b', 4);
  await fleet.registerNode('node-c', 4);
  const all = await fleet.instances();
  const find = (pool: string, status: string) => {
    const found = all.find((i) => i.poolId === pool && i.status === status);
    if (!found) throw new Error(`no ${status} instance of ${pool}`);
    return found;
  };
  return {
    sleeper: find('web', 'sleeping'),
    runner: find('web', 'running'),
    pinned: find('db', 'sleeping'),
  };
}

const pathOf = (i: InstanceJson) => `/tenants/${i.tenantId}/pools/${i.poolId}/instances/${i.id}`;

const moveEvents = async (fleet: Fleet) =>
  ((await fleet.ok('GET', '/events?last=100')) as Json[])
    .filter((e) => String(e.action).startsWith('instance.move'))
    .map((e) => `${String(e.action)} ${String(e.target)}`);

/** Bytes to or from the relay, as the agents send them (admin token standing in for mTLS). */
async function putPart(
  fleet: Fleet,
  node: string,
  move: string,
  part: string,
  offset: number,
  bytes: Buffer,
) {
  const response = await fleet.app.request(
    `/v1/nodes/${node}/moves/${move}/parts/${part}?offset=${offset}`,
    {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    },
  );
  return { status: response.status, body: (await response.json()) as Json };
}

async function getPart(fleet: Fleet, node: string, move: string, part: string, from = 0) {
  return fleet.app.request(`/v1/nodes/${node}/moves/${move}/parts/${part}`, {
    headers: { authorization: `Bearer ${ADMIN}`, range: `bytes=${from}-` },
  });
}

/** A bundle like a sleeping instance's: a snapshot of random bytes and a sparse data disk. */
async function sourceBundle(): Promise<{
  manifest: BundleManifest;
  outbox: string;
  files: Record<string, string>;
}> {
  const source = join(root, 'source');
  await mkdir(source);
  await writeFile(join(source, 'vmstate'), randomBytes(256 * 1024 + 3));
  await writeFile(join(source, 'data.ext4'), Buffer.from('a file on the data disk\n'));
  await truncate(join(source, 'data.ext4'), 4 * 1024 * 1024);
  const files = {
    'snapshot.vmstate': join(source, 'vmstate'),
    'data.ext4': join(source, 'data.ext4'),
  };
  const outbox = join(root, 'outbox');
  const manifest = await exportBundle(
    Object.entries(files).map(([name, path]) => ({ name, path })),
    outbox,
  );
  return { manifest, outbox, files };
}

await describeEachDatabase('instance moves', ({ store }) => {
  it('refuses bad moves with a clear 4xx and changes nothing', async () => {
    const fleet = await fleetOver(store(), { moveRelayDir: join(root, 'relay') });
    const { sleeper, runner, pinned } = await world(fleet);
    await fleet.ok('POST', '/nodes/node-c/cordon');
    const before = await fleet.instances();
    const refusals: Array<[InstanceJson, unknown, number, string]> = [
      [sleeper, { node: 'nope' }, 404, "node 'nope' not found"],
      [sleeper, { node: 'node-a' }, 409, 'the target is the node it is on'],
      [sleeper, { node: 'node-c' }, 409, 'the target node is cordoned'],
      [pinned, { node: 'node-b' }, 409, 'its pool is pinned'],
      [runner, { node: 'node-b' }, 409, 'sleep it first'],
      [sleeper, { node: 'Not A Node!' }, 400, 'use 1-63 characters'],
      [sleeper, { node: 'node-b', extra: 1 }, 400, 'extra'],
      [sleeper, { node: 'node-b', wake: true, memMib: 1 }, 400, 'memMib'],
    ];
    for (const [instance, body, status, words] of refusals) {
      const answer = await fleet.call('POST', `${pathOf(instance)}/move`, body);
      expect({ status: answer.status, body: JSON.stringify(answer.body) }).toEqual({
        status,
        body: expect.stringContaining(words) as string,
      });
    }
    const missing = await fleet.call('POST', '/tenants/acme/pools/web/instances/nope/move', {
      node: 'node-b',
    });
    expect(missing.status).toBe(404);
    const issued = (await fleet.ok('POST', '/tenants/acme/tokens', { name: 'ci' })) as Json;
    const asTenant = await fleet.call(
      'POST',
      `${pathOf(sleeper)}/move`,
      { node: 'node-b' },
      String(issued.token),
    );
    expect(asTenant.status).toBe(403);
    expect(errorCode(asTenant)).toBe('permission_denied');
    expect(await fleet.instances()).toEqual(before);
    for (const node of ['node-a', 'node-b', 'node-c']) {
      expect(await fleet.ok('GET', `/nodes/${node}/moves`)).toEqual([]);
    }
    expect(await moveEvents(fleet)).toEqual([]);
  });

  it('carries a move through its steps: only its own nodes take part, the relay checks every part', async () => {
    const relay = join(root, 'relay');
    const fleet = await fleetOver(store(), { moveRelayDir: relay });
    const { sleeper } = await world(fleet);
    const asked = await fleet.call('POST', `${pathOf(sleeper)}/move`, { node: 'node-b' });
    expect(asked.status).toBe(201);
    const move = asked.body as Json;
    expect(move).toMatchObject({
      step: 'requested',
      sourceNode: 'node-a',
      targetNode: 'node-b',
      wake: false,
    });
    const id = String(move.id);
    // While it moves, it is not woken on its source: the move brings it back on its target.
    const woken = await fleet.call('POST', `${pathOf(sleeper)}/actions`, { action: 'wake' });
    expect(woken.status).toBe(409);
    expect(JSON.stringify(woken.body)).toContain('a move of it to node node-b is under way');
    expect((await fleet.instances()).find((i) => i.id === sleeper.id)?.desiredStatus).toBe(
      'sleeping',
    );
    const again = await fleet.call('POST', `${pathOf(sleeper)}/move`, { node: 'node-c' });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toContain('already under way');
    expect(((await fleet.ok('GET', '/nodes/node-a/moves')) as Json[]).map((m) => m.id)).toEqual([
      id,
    ]);
    expect(((await fleet.ok('GET', '/nodes/node-b/moves')) as Json[]).map((m) => m.id)).toEqual([
      id,
    ]);
    expect(await fleet.ok('GET', '/nodes/node-c/moves')).toEqual([]);

    const report = (node: string, body: unknown) =>
      fleet.call('POST', `/nodes/${node}/moves/${id}/events`, body);
    expect((await report('node-c', { kind: 'start' })).status).toBe(404);
    expect((await report('node-b', { kind: 'start' })).status).toBe(409);
    expect((await report('node-a', { kind: 'start' })).body).toMatchObject({
      step: 'exporting',
      attempts: 1,
    });

    const { manifest, outbox, files } = await sourceBundle();
    const [big, small] = [...manifest.parts].sort((a, b) => b.bytes - a.bytes);
    if (!big || !small) throw new Error('two parts expected');
    // Uploading before the export is reported: the relay knows no parts yet.
    const early = await putPart(fleet, 'node-a', id, big.name, 0, Buffer.alloc(1));
    expect(early.status).toBe(409);
    expect((await report('node-b', { kind: 'exported', manifest })).status).toBe(409);
    expect((await report('node-a', { kind: 'exported', manifest })).body).toMatchObject({
      step: 'transferring',
    });

    const bigBytes = await readFile(partFile(outbox, big.name));
    const third = Math.floor(bigBytes.length / 3);
    // The source's upload is cut a third in, and resumes there; any other offset is refused.
    expect(
      (await putPart(fleet, 'node-a', id, big.name, 0, bigBytes.subarray(0, third))).body,
    ).toEqual({
      part: big.name,
      held: third,
      whole: false,
    });
    const wrong = await putPart(fleet, 'node-a', id, big.name, 0, bigBytes);
    expect(wrong.status).toBe(409);
    expect(JSON.stringify(wrong.body)).toContain(`resumes at byte ${third}`);
    // Only the target fetches, and only a part the relay holds whole.
    expect((await getPart(fleet, 'node-b', id, big.name)).status).toBe(409);
    expect(
      (await putPart(fleet, 'node-b', id, big.name, third, bigBytes.subarray(third))).status,
    ).toBe(409);
    expect(
      (await putPart(fleet, 'node-a', id, big.name, third, bigBytes.subarray(third))).body,
    ).toMatchObject({
      held: big.bytes,
      whole: true,
    });
    expect((await getPart(fleet, 'node-a', id, big.name)).status).toBe(409);
    expect((await getPart(fleet, 'node-c', id, big.name)).status).toBe(404);
    // A part corrupted on its way up is refused whole and dropped: it is sent again from 0.
    const smallBytes = await readFile(partFile(outbox, small.name));
    const corrupt = Buffer.from(smallBytes);
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1);
    const refused = await putPart(fleet, 'node-a', id, small.name, 0, corrupt);
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.body)).toContain('does not match its sha256');
    expect((await putPart(fleet, 'node-a', id, small.name, 0, smallBytes)).body).toMatchObject({
      whole: true,
    });

    // The target fetches: one part corrupted in flight is refused by its sha256 and fetched again.
    const inbox = join(root, 'inbox');
    const fetchPart = async (name: string, tamper: boolean) => {
      const answer = await getPart(fleet, 'node-b', id, name);
      expect(answer.headers.get('x-mvm-sha256')).toBe(
        manifest.parts.find((p) => p.name === name)?.sha256,
      );
      const bytes = Buffer.from(await answer.arrayBuffer());
      if (tamper) bytes.writeUInt8(bytes.readUInt8(0) ^ 0xff, 0);
      const part = manifest.parts.find((p) => p.name === name);
      if (!part) throw new Error(name);
      return receivePart(inbox, part, 0, Readable.from([bytes]));
    };
    await expect(fetchPart(small.name, true)).rejects.toThrow('does not match its sha256');
    expect(
      (await report('node-b', { kind: 'part-refused', part: small.name, reason: 'sha256' })).body,
    ).toMatchObject({
      step: 'transferring',
      attempts: 2,
      received: { [small.name]: 0 },
    });
    // A fetch cut short resumes at its byte (206, from there to the end).
    const resumed = await getPart(fleet, 'node-b', id, big.name, third);
    expect(resumed.status).toBe(206);
    expect(Buffer.from(await resumed.arrayBuffer()).equals(bigBytes.subarray(third))).toBe(true);
    for (const part of [small, big]) {
      const held = await fetchPart(part.name, false);
      expect(held).toBe(part.bytes);
      const after = (await report('node-b', { kind: 'received', part: part.name, bytes: held }))
        .body as Json;
      expect(after.step).toBe(part === big ? 'importing' : 'transferring');
    }
    // Once every part is received the relay serves nothing more.
    expect((await getPart(fleet, 'node-b', id, big.name, third)).status).toBe(409);

    const dest = join(root, 'dest');
    await importBundle(inbox, manifest, {
      'snapshot.vmstate': join(dest, 'vmstate'),
      'data.ext4': join(dest, 'data.ext4'),
    });
    expect(sha(await readFile(join(dest, 'data.ext4')))).toBe(
      sha(await readFile(files['data.ext4'] ?? '')),
    );
    expect((await report('node-a', { kind: 'imported' })).status).toBe(409);
    const done = (await report('node-b', { kind: 'imported' })).body as Json;
    expect(done).toMatchObject({ step: 'done', reason: null });
    // The same write moved the instance: node-b owns it, node-a's document no longer names it.
    const moved = (await fleet.instances()).find((i) => i.id === sleeper.id);
    expect(moved).toMatchObject({
      nodeId: 'node-b',
      ip: sleeper.ip,
      mac: sleeper.mac,
      desiredStatus: 'sleeping',
    });
    expect(await fleet.documentIds('node-b')).toContain(sleeper.id);
    expect(await fleet.documentIds('node-a')).not.toContain(sleeper.id);
    expect(await fleet.ok('GET', '/nodes/node-a/moves')).toEqual([]);
    expect(await fleet.ok('GET', `/moves/${id}`)).toMatchObject({ step: 'done' });
    // What was relayed is gone; a report after the end changes nothing.
    expect(await readdir(relay)).toEqual([]);
    expect(((await report('node-b', { kind: 'failed', reason: 'late' })).body as Json).step).toBe(
      'done',
    );
    const key = `acme/web/${sleeper.id}`;
    expect(await moveEvents(fleet)).toEqual([`instance.moved ${key}`, `instance.move ${key}`]);
  });

  it('a move that keeps failing ends failed and leaves the instance on its source', async () => {
    const fleet = await fleetOver(store(), { moveRelayDir: join(root, 'relay') });
    const { sleeper } = await world(fleet);
    const move = (await fleet.ok('POST', `${pathOf(sleeper)}/move`, {
      node: 'node-b',
      wake: true,
    })) as Json;
    const report = (node: string, body: unknown) =>
      fleet.ok('POST', `/nodes/${node}/moves/${String(move.id)}/events`, body) as Promise<Json>;
    await report('node-a', { kind: 'start' });
    let last: Json = {};
    for (let i = 0; i < 5; i += 1)
      last = await report('node-a', { kind: 'crashed', reason: `crash ${i}` });
    expect(last).toMatchObject({ step: 'failed' });
    expect(String(last.reason)).toContain('crash 4');
    expect((await fleet.instances()).find((i) => i.id === sleeper.id)).toMatchObject({
      nodeId: 'node-a',
      desiredStatus: 'sleeping',
    });
    // A failed move lets a new one be asked for.
    expect((await fleet.call('POST', `${pathOf(sleeper)}/move`, { node: 'node-b' })).status).toBe(
      201,
    );
  });

  it('a wake on its source after the export fails the move: the source keeps the instance', async () => {
    const fleet = await fleetOver(store(), { moveRelayDir: join(root, 'relay') });
    const { sleeper } = await world(fleet);
    const move = (await fleet.ok('POST', `${pathOf(sleeper)}/move`, { node: 'node-b' })) as Json;
    const report = (node: string, body: unknown) =>
      fleet.ok('POST', `/nodes/${node}/moves/${String(move.id)}/events`, body) as Promise<Json>;
    await report('node-a', { kind: 'start' });
    const { manifest } = await sourceBundle();
    await report('node-a', { kind: 'exported', manifest });
    // A connection woke it on node-a: its node reports it running.
    await fleet.report(sleeper, 'running');
    const part = manifest.parts[0];
    if (!part) throw new Error('no part');
    const after = await report('node-b', { kind: 'received', part: part.name, bytes: part.bytes });
    expect(after).toMatchObject({ step: 'failed' });
    expect(String(after.reason)).toContain('the bundle is stale');
    expect((await fleet.instances()).find((i) => i.id === sleeper.id)).toMatchObject({
      nodeId: 'node-a',
      status: 'running',
    });
    expect(await fleet.ok('GET', '/nodes/node-b/moves')).toEqual([]);
  });

  it('a drained warm instance comes back warm on its target, a running one running', async () => {
    const fleet = await fleetOver(store(), { moveRelayDir: join(root, 'relay') });
    await fleet.registerNode('node-a', 4);
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
    await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', ...pool });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1, warm: 1 });
    for (const i of await fleet.instances()) await fleet.report(i, i.desiredStatus);
    await fleet.registerNode('node-b', 4);
    const before = await fleet.instances();
    const warm = before.find((i) => i.status === 'warm');
    const running = before.find((i) => i.status === 'running');
    if (!warm || !running) throw new Error('a warm and a running instance expected');
    const drained = (await fleet.ok('POST', '/nodes/node-a/drain')) as { moves: Json[] };
    const byInstance = new Map(drained.moves.map((m) => [String(m.instanceId), m]));
    expect(byInstance.get(warm.id)).toMatchObject({ wake: true, restore: 'warm' });
    expect(byInstance.get(running.id)).toMatchObject({ wake: true, restore: 'running' });
    expect(await fleet.ok('GET', `/moves/${String(byInstance.get(warm.id)?.id)}`)).toMatchObject({
      restore: 'warm',
    });
    const { manifest } = await sourceBundle();
    for (const instance of [warm, running]) {
      // Its node slept it, as the drain asked.
      await fleet.report(instance, 'sleeping');
      const id = String(byInstance.get(instance.id)?.id);
      const report = (node: string, body: unknown) =>
        fleet.ok('POST', `/nodes/${node}/moves/${id}/events`, body) as Promise<Json>;
      await report('node-a', { kind: 'start' });
      await report('node-a', { kind: 'exported', manifest });
      for (const part of manifest.parts) {
        await report('node-b', { kind: 'received', part: part.name, bytes: part.bytes });
      }
      expect(await report('node-b', { kind: 'imported' })).toMatchObject({ step: 'done' });
    }
    const after = await fleet.instances();
    expect(after.find((i) => i.id === warm.id)).toMatchObject({
      nodeId: 'node-b',
      desiredStatus: 'warm',
    });
    expect(after.find((i) => i.id === running.id)).toMatchObject({
      nodeId: 'node-b',
      desiredStatus: 'running',
    });
    const moved = ((await fleet.ok('GET', '/events?last=100')) as Json[]).find(
      (e) => e.action === 'instance.moved' && String(e.target).endsWith(warm.id),
    );
    expect(moved?.detail).toMatchObject({ wake: true, restore: 'warm' });
  });

  it('drains a node: cordoned, sleepers and runners move, pinned ones wait, asked again changes nothing', async () => {
    const fleet = await fleetOver(store(), { moveRelayDir: join(root, 'relay') });
    const { sleeper, runner, pinned } = await world(fleet);
    expect((await fleet.call('POST', '/nodes/nope/drain')).status).toBe(404);
    const drained = (await fleet.ok('POST', '/nodes/node-a/drain')) as {
      node: string;
      moves: Json[];
      plan: Json[];
    };
    expect(((await fleet.ok('GET', '/nodes/node-a')) as Json).status).toBe('cordoned');
    const byInstance = new Map(drained.moves.map((m) => [String(m.instanceId), m]));
    expect(byInstance.get(sleeper.id)).toMatchObject({
      step: 'requested',
      wake: false,
      drainOf: 'node-a',
    });
    expect(byInstance.get(runner.id)).toMatchObject({
      step: 'requested',
      wake: true,
      restore: 'running',
      drainOf: 'node-a',
    });
    expect(byInstance.has(pinned.id)).toBe(false);
    expect(drained.plan.find((a) => a.key === `acme/db/${pinned.id}`)).toMatchObject({
      kind: 'wait',
    });
    // The running one is told to sleep first; the source starts its move only once it sleeps.
    const runnerNow = (await fleet.instances()).find((i) => i.id === runner.id);
    expect(runnerNow).toMatchObject({ desiredStatus: 'sleeping', nodeId: 'node-a' });
    const runnerMove = String(byInstance.get(runner.id)?.id);
    const early = await fleet.call('POST', `/nodes/node-a/moves/${runnerMove}/events`, {
      kind: 'start',
    });
    expect(early.status).toBe(409);
    expect(JSON.stringify(early.body)).toContain('starts once asleep');
    const again = (await fleet.ok('POST', '/nodes/node-a/drain')) as { moves: Json[] };
    expect(again.moves.map((m) => m.id).sort()).toEqual(drained.moves.map((m) => m.id).sort());
    expect((await moveEvents(fleet)).filter((e) => e.startsWith('instance.move '))).toHaveLength(2);
  });
});
