/**
 * Move time per GiB (issue 16, docs/moves.md): export, transfer and import of a move bundle
 * on this host, with a data disk as a move sees one: mostly zeros with some written extents
 * (MVM_BENCH_FILL, the fraction of random bytes, default 0.1) and a snapshot of random bytes
 * (MVM_BENCH_SNAPSHOT_MIB, default 256, a dev guest's RAM). The transfer reads the source's
 * parts from their files and appends them on the target (no network: what the bundle costs
 * itself); a second transfer is cut a third in and resumed.
 *   `npx tsx bench/move.ts [DATA_MIB]` (default 1024) [--level N] (gzip level, default 1)
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exportBundle, partFile } from '../src/drivers/move-bundle/bundle-export.ts';
import { importBundle } from '../src/agent/move/bundle-import.ts';
import { receivePart } from '../src/drivers/move-bundle/bundle-receive.ts';
import { openPart } from '../src/agent/move/bundle-source.ts';
import { transferBundle } from '../src/agent/move/bundle-transfer.ts';

const MIB = 1024 * 1024;
const dataMib = Number(process.argv[2] ?? 1024);
const levelAt = process.argv.indexOf('--level');
const level = levelAt === -1 ? 1 : Number(process.argv[levelAt + 1]);
const fill = Number(process.env['MVM_BENCH_FILL'] ?? 0.1);
const snapshotMib = Number(process.env['MVM_BENCH_SNAPSHOT_MIB'] ?? 256);

async function makeSource(dir: string): Promise<Array<{ name: string; path: string }>> {
  await mkdir(dir, { recursive: true });
  const snapshot = join(dir, 'vmstate');
  const handle = await open(snapshot, 'w');
  for (let i = 0; i < snapshotMib; i += 1) await handle.write(randomBytes(MIB));
  await handle.close();
  const data = join(dir, 'data.ext4');
  await writeFile(data, Buffer.alloc(0));
  await truncate(data, dataMib * MIB);
  const disk = await open(data, 'r+');
  const extents = Math.round(dataMib * fill);
  for (let i = 0; i < extents; i += 1) {
    const at = Math.floor((i * dataMib) / Math.max(extents, 1)) * MIB;
    await disk.write(randomBytes(MIB), 0, MIB, at);
  }
  await disk.close();
  return [
    { name: 'snapshot.vmstate', path: snapshot },
    { name: 'data.ext4', path: data },
  ];
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, (performance.now() - start) / 1000];
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'mvm-bench-move-'));
  try {
    const files = await makeSource(join(root, 'source'));
    const outbox = join(root, 'outbox');
    const [manifest, exportS] = await timed(() => exportBundle(files, outbox, { level }));
    const openSource = async (name: string, offset: number) =>
      openPart(outbox, manifest, name, offset);
    const [, transferS] = await timed(() =>
      transferBundle(manifest, join(root, 'inbox'), openSource),
    );
    const dest = (d: string) => ({
      'snapshot.vmstate': join(root, d, 'vmstate'),
      'data.ext4': join(root, d, 'data.ext4'),
    });
    const [, importS] = await timed(() => importBundle(join(root, 'inbox'), manifest, dest('a')));
    // A transfer cut a third into the snapshot part, then resumed.
    const snap = manifest.parts[0]!;
    const cut = Math.floor(snap.bytes / 3);
    const inbox2 = join(root, 'inbox2');
    const [, resumedS] = await timed(async () => {
      await receivePart(
        inbox2,
        snap,
        0,
        createReadStream(partFile(outbox, snap.name), { end: cut - 1 }),
      );
      await transferBundle(manifest, inbox2, openSource);
    });
    const rawGib = manifest.parts.reduce((n, p) => n + p.rawBytes, 0) / (1024 * MIB);
    const packedMib = manifest.parts.reduce((n, p) => n + p.bytes, 0) / MIB;
    const total = exportS + transferS + importS;
    console.log(
      `move bundle: ${snapshotMib} MiB snapshot + ${dataMib} MiB data disk (${fill * 100}% written), gzip level ${level}`,
    );
    console.log(`  raw ${rawGib.toFixed(2)} GiB, sent ${packedMib.toFixed(1)} MiB`);
    console.log(`  export   ${exportS.toFixed(2)} s`);
    console.log(
      `  transfer ${transferS.toFixed(2)} s (cut at a third and resumed: ${resumedS.toFixed(2)} s)`,
    );
    console.log(`  import   ${importS.toFixed(2)} s`);
    console.log(
      `  total    ${total.toFixed(2)} s = ${(total / rawGib).toFixed(2)} s per GiB moved`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
