import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { exportBundle, partFile } from '../../src/drivers/move-bundle/bundle-export.ts';
import { receivePart } from '../../src/drivers/move-bundle/bundle-receive.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { ADMIN } from './api-client-harness.ts';
import { fleetOver, type Fleet } from './node-health-harness.ts';

type Json = Record<string, unknown>;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mvm-mv3-relay-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A sleeping instance of acme/web on node-a, node-b empty. */
async function sleeperOn(fleet: Fleet) {
  await fleet.registerNode('node-a', 4);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  const pool = { flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
  await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', ...pool });
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { sleeping: 1 });
  const [sleeper] = await fleet.instances();
  if (!sleeper) throw new Error('no instance');
  await fleet.report(sleeper, 'sleeping');
  await fleet.registerNode('node-b', 4);
  return sleeper;
}

/** Two parts of random (incompressible) bytes, 96 KiB and 64 KiB sent. */
async function twoParts() {
  const source = join(root, 'source');
  await mkdir(source);
  await writeFile(join(source, 'a'), randomBytes(96 * 1024));
  await writeFile(join(source, 'b'), randomBytes(64 * 1024));
  const outbox = join(root, 'outbox');
  const manifest = await exportBundle(
    [
      { name: 'snapshot.vmstate', path: join(source, 'a') },
      { name: 'data.ext4', path: join(source, 'b') },
    ],
    outbox,
  );
  return { manifest, outbox };
}

await describeEachDatabase('the move relay holds a bounded part of a bundle', ({ store }) => {
  it('takes a new part only once the target has fetched what it holds, and drops what was delivered', async () => {
    const relay = join(root, 'relay');
    // Less than either part: one part at a time.
    const fleet = await fleetOver(store(), { moveRelayDir: relay, moveRelayMaxBytes: 1024 });
    const sleeper = await sleeperOn(fleet);
    const path = `/tenants/acme/pools/web/instances/${sleeper.id}`;
    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b' })) as Json;
    const id = String(move.id);
    const report = (node: string, body: unknown) =>
      fleet.ok('POST', `/nodes/${node}/moves/${id}/events`, body) as Promise<Json>;
    const { manifest, outbox } = await twoParts();
    const [a, b] = manifest.parts;
    if (!a || !b) throw new Error('two parts expected');
    await report('node-a', { kind: 'start' });
    await report('node-a', { kind: 'exported', manifest });

    const put = async (name: string, offset = 0) => {
      const bytes = (await readFile(partFile(outbox, name))).subarray(offset);
      const response = await fleet.app.request(
        `/v1/nodes/node-a/moves/${id}/parts/${name}?offset=${offset}`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' },
          body: bytes,
        },
      );
      return { status: response.status, body: (await response.json()) as Json };
    };
    const relayed = async () => (await readdir(join(relay, id)).catch(() => [])).sort();
    const inbox = join(root, 'inbox');
    const fetchPart = async (part: typeof a) => {
      const answer = await fleet.app.request(`/v1/nodes/node-b/moves/${id}/parts/${part.name}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(answer.status).toBe(200);
      const held = await receivePart(
        inbox,
        part,
        0,
        Readable.from([Buffer.from(await answer.arrayBuffer())]),
      );
      return report('node-b', { kind: 'received', part: part.name, bytes: held });
    };

    // The first part is taken whole (a part is always taken when nothing else is held).
    const first = await put(a.name);
    expect(first.body).toMatchObject({ held: a.bytes, whole: true });
    // The second waits: the relay holds the first, which the target has not fetched.
    const waiting = await put(b.name);
    expect(waiting.status).toBe(409);
    expect(waiting.body).toMatchObject({
      error: { code: 'conflict', details: { part: b.name, waitForTarget: true } },
    });
    expect(JSON.stringify(waiting.body)).toContain('its target has not fetched yet');
    expect(await relayed()).toEqual([`${a.name}.gz`]);

    // The target fetches the first; the next upload drops it and takes the second.
    expect((await fetchPart(a)).step).toBe('transferring');
    expect((await put(b.name)).body).toMatchObject({ held: b.bytes, whole: true });
    expect(await relayed()).toEqual([`${b.name}.gz`]);
    // A source restarted uploads the delivered part again: answered held, not stored.
    expect((await put(a.name)).body).toMatchObject({ held: a.bytes, whole: true });
    expect(await relayed()).toEqual([`${b.name}.gz`]);

    expect((await fetchPart(b)).step).toBe('importing');
    expect(await report('node-b', { kind: 'imported' })).toMatchObject({ step: 'done' });
    expect(await relayed()).toEqual([]);
  });

  it('under the bound, parts go up side by side as before', async () => {
    const relay = join(root, 'relay');
    const fleet = await fleetOver(store(), { moveRelayDir: relay });
    const sleeper = await sleeperOn(fleet);
    const path = `/tenants/acme/pools/web/instances/${sleeper.id}`;
    const move = (await fleet.ok('POST', `${path}/move`, { node: 'node-b' })) as Json;
    const id = String(move.id);
    const { manifest, outbox } = await twoParts();
    await fleet.ok('POST', `/nodes/node-a/moves/${id}/events`, { kind: 'start' });
    await fleet.ok('POST', `/nodes/node-a/moves/${id}/events`, { kind: 'exported', manifest });
    for (const part of manifest.parts) {
      const response = await fleet.app.request(
        `/v1/nodes/node-a/moves/${id}/parts/${part.name}?offset=0`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' },
          body: await readFile(partFile(outbox, part.name)),
        },
      );
      expect(response.status).toBe(200);
    }
    expect((await readdir(join(relay, id))).sort()).toEqual(
      manifest.parts.map((p) => `${p.name}.gz`).sort(),
    );
  });
});
