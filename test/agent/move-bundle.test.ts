import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportBundle, partFile } from '../../src/drivers/move-bundle/bundle-export.ts';
import { importBundle } from '../../src/agent/move/bundle-import.ts';
import { receivedOf, receivePart } from '../../src/drivers/move-bundle/bundle-receive.ts';
import { openPart } from '../../src/agent/move/bundle-source.ts';
import { transferBundle, type PartOpener } from '../../src/agent/move/bundle-transfer.ts';
import { advanceMove, newMove, nextTransfer } from '../../src/core/instance-move.ts';
import type { BundleManifest } from '../../src/contract/move-bundle.ts';

let root: string;
let source: string;
let outbox: string;
let inbox: string;
let dest: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mvm-move-bundle-'));
  source = join(root, 'source');
  outbox = join(root, 'outbox');
  inbox = join(root, 'inbox');
  dest = join(root, 'dest');
  await mkdir(source);
  // A snapshot-like file of random bytes and a data disk that is mostly zeros (sparse).
  await writeFile(join(source, 'vmstate'), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(join(source, 'data.ext4'), Buffer.alloc(0));
  await truncate(join(source, 'data.ext4'), 16 * 1024 * 1024);
  const handle = await open(join(source, 'data.ext4'), 'r+');
  await handle.write(Buffer.from('hello from the data disk\n'), 0, undefined, 4096 * 100);
  await handle.close();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const files = () => [
  { name: 'snapshot.vmstate', path: join(source, 'vmstate') },
  { name: 'data.ext4', path: join(source, 'data.ext4') },
];
const destinations = () => ({
  'snapshot.vmstate': join(dest, 'snapshots', 'vmstate'),
  'data.ext4': join(dest, 'data.ext4'),
});
const local =
  (manifest: BundleManifest): PartOpener =>
  async (name, offset) =>
    openPart(outbox, manifest, name, offset);

async function expectSameFiles(): Promise<void> {
  expect(sha(await readFile(join(dest, 'snapshots', 'vmstate')))).toBe(
    sha(await readFile(join(source, 'vmstate'))),
  );
  expect(sha(await readFile(join(dest, 'data.ext4')))).toBe(
    sha(await readFile(join(source, 'data.ext4'))),
  );
}

describe('move bundle', () => {
  it('exports each file compressed with both hashes, transfers and imports byte-exact', async () => {
    const manifest = await exportBundle(files(), outbox);
    expect(manifest.parts.map((p) => p.name)).toEqual(['snapshot.vmstate', 'data.ext4']);
    const [snap, data] = manifest.parts;
    expect(snap?.rawSha256).toBe(sha(await readFile(join(source, 'vmstate'))));
    expect(data?.rawBytes).toBe(16 * 1024 * 1024);
    expect(data?.bytes).toBeLessThan(1024 * 1024);
    expect(data?.sha256).toBe(sha(await readFile(partFile(outbox, 'data.ext4'))));
    const report = await transferBundle(manifest, inbox, local(manifest));
    expect(report).toEqual({ fetched: (snap?.bytes ?? 0) + (data?.bytes ?? 0), refetched: [] });
    await importBundle(inbox, manifest, destinations());
    await expectSameFiles();
    expect((await stat(join(dest, 'data.ext4'))).mode & 0o777).toBe(0o600);
  });

  it('a transfer cut short resumes at the bytes held, as the move state says', async () => {
    const manifest = await exportBundle(files(), outbox);
    const snap = manifest.parts[0]!;
    // The first attempt delivers a third of the snapshot part, then the link breaks.
    const cut = Math.floor(snap.bytes / 3);
    const held = await receivePart(
      inbox,
      snap,
      0,
      createReadStream(partFile(outbox, snap.name), { start: 0, end: cut - 1 }),
    );
    expect(held).toBe(cut);
    let move = advanceMove(newMove('node-a', 'node-b', false), { kind: 'start' });
    move = advanceMove(move, { kind: 'exported', parts: manifest.parts });
    for (const [part, bytes] of Object.entries(await receivedOf(inbox, manifest))) {
      move = advanceMove(move, { kind: 'received', part, bytes });
    }
    expect(nextTransfer(move)).toEqual({ part: snap.name, offset: cut });
    await expect(importBundle(inbox, manifest, destinations())).rejects.toThrow(
      /incomplete .* finish the transfer first/,
    );
    await expect(stat(join(dest, 'data.ext4'))).rejects.toThrow();
    // Resuming anywhere but where it stopped is refused.
    await expect(
      receivePart(inbox, snap, 0, openPart(outbox, manifest, snap.name, 0)),
    ).rejects.toThrow(`resumes at byte ${cut}`);
    const opened: Array<[string, number]> = [];
    const report = await transferBundle(manifest, inbox, async (name, offset) => {
      opened.push([name, offset]);
      return openPart(outbox, manifest, name, offset);
    });
    expect(opened).toEqual([
      [snap.name, cut],
      ['data.ext4', 0],
    ]);
    expect(report.fetched).toBe(snap.bytes - cut + manifest.parts[1]!.bytes);
    for (const [part, bytes] of Object.entries(await receivedOf(inbox, manifest))) {
      move = advanceMove(move, { kind: 'received', part, bytes });
    }
    expect(move.step).toBe('importing');
    await importBundle(inbox, manifest, destinations());
    await expectSameFiles();
  });

  it('a corrupted part is refused, dropped and fetched again from its start', async () => {
    const manifest = await exportBundle(files(), outbox);
    let corruptOnce = true;
    const report = await transferBundle(manifest, inbox, async (name, offset) => {
      const stream = openPart(outbox, manifest, name, offset);
      if (name !== 'snapshot.vmstate' || !corruptOnce) return stream;
      corruptOnce = false;
      let flipped = false;
      return stream.pipe(
        new Transform({
          transform(chunk: Buffer, _e, done) {
            if (!flipped && chunk.length > 10) {
              chunk = Buffer.from(chunk);
              chunk[10] = (chunk[10] ?? 0) ^ 0xff;
              flipped = true;
            }
            done(null, chunk);
          },
        }),
      );
    });
    expect(report.refetched).toEqual(['snapshot.vmstate']);
    await importBundle(inbox, manifest, destinations());
    await expectSameFiles();
  });

  it('refuses a part longer than its manifest, a tampered manifest, and parts it does not serve', async () => {
    const manifest = await exportBundle(files(), outbox);
    const data = manifest.parts[1]!;
    const longer = Readable.from([await readFile(partFile(outbox, data.name)), Buffer.from('x')]);
    expect(await receivePart(inbox, data, 0, longer)).toBe(data.bytes);
    // The bytes sent before the excess were the part's own, so it checked out and was kept.
    expect((await receivedOf(inbox, manifest))[data.name]).toBe(data.bytes);
    await transferBundle(manifest, inbox, local(manifest));
    const tampered: BundleManifest = {
      ...manifest,
      parts: manifest.parts.map((p) =>
        p.name === data.name ? { ...p, rawSha256: '0'.repeat(64) } : p,
      ),
    };
    await expect(importBundle(inbox, tampered, destinations())).rejects.toThrow(
      /unpacks to .* nothing was imported/,
    );
    await expect(stat(join(dest, 'data.ext4'))).rejects.toThrow();
    expect(() => openPart(outbox, manifest, 'passwd', 0)).toThrow("bundle part 'passwd' not found");
    expect(() => openPart(outbox, manifest, data.name, data.bytes + 1)).toThrow('outside part');
    await expect(
      exportBundle([{ name: '../escape', path: join(source, 'vmstate') }], outbox),
    ).rejects.toThrow();
  });
});
