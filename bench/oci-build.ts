/**
 * OCI image → rootfs build time on this host (`npx tsx bench/oci-build.ts [MiB]`, default 200):
 * an image of random-content files (so gzip cannot shrink it) in three layers (gzip, plain,
 * gzip with whiteouts) is written offline, then imported cold, again from the cache, and cold
 * once more into another cache (which also proves the rootfs bytes are reproducible).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/drivers/clock/system-clock.ts';
import { buildOciRootfs } from '../src/drivers/image/oci-rootfs.ts';
import type { OciRootfs } from '../src/drivers/image/oci-rootfs.ts';
import { NodeProcessRunner } from '../src/drivers/process/node-process-runner.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { writeOciImage } from '../test/support/oci-fixture.ts';
import type { FixtureEntry } from '../test/support/oci-fixture.ts';

const MIB = 1024 * 1024;
const totalMib = Number(process.argv[2] ?? process.env['MVM_BENCH_OCI_MIB'] ?? 200);

function randomFiles(dir: string, count: number, bytes: number): FixtureEntry[] {
  return [
    { type: 'dir', path: dir },
    ...Array.from({ length: count }, (_, i): FixtureEntry => ({
      type: 'file',
      path: `${dir}/f${i}`,
      data: randomBytes(bytes),
    })),
  ];
}

async function timedBuild(
  label: string,
  ref: string,
  cacheDir: string,
): Promise<{ ms: number; rootfs: OciRootfs }> {
  const runner = new NodeProcessRunner();
  const started = performance.now();
  const rootfs = await buildOciRootfs({
    ref,
    cacheDir,
    runner,
    logger: silentLogger,
    clock: systemClock,
    onProgress: (line) => console.log(`  ${label}: ${line}`),
  });
  return { ms: performance.now() - started, rootfs };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mvm-bench-oci-'));
  try {
    const half = Math.max(1, Math.floor(totalMib / 2));
    const writeStarted = performance.now();
    const image = await writeOciImage(join(work, 'image'), {
      layers: [
        { compression: 'gzip', entries: randomFiles('big', half, MIB) },
        {
          compression: 'none',
          entries: [
            ...randomFiles('more', totalMib - half, MIB),
            ...randomFiles('small', 2_000, 512),
          ],
        },
        {
          compression: 'gzip',
          entries: Array.from({ length: 10 }, (_, i): FixtureEntry => ({
            type: 'whiteout',
            path: `big/f${i}`,
          })),
        },
      ],
      config: { Cmd: ['/bin/true'] },
    });
    const writeMs = performance.now() - writeStarted;
    const ref = `oci:${image.dir}:${image.tag}`;
    const cold = await timedBuild('cold', ref, join(work, 'cache-a'));
    const cached = await timedBuild('cached', ref, join(work, 'cache-a'));
    const again = await timedBuild('cold again', ref, join(work, 'cache-b'));
    console.log(`\nOCI image → rootfs, ${totalMib} MiB of random content, 3 layers`);
    console.log(`  writing the image (test fixture) ${(writeMs / 1000).toFixed(1)} s`);
    console.log(
      `  cold build        ${(cold.ms / 1000).toFixed(2)} s  (rootfs ${(cold.rootfs.sizeBytes / MIB).toFixed(0)} MiB)`,
    );
    console.log(
      `  from the cache    ${cached.ms.toFixed(0)} ms  (cached: ${cached.rootfs.cached})`,
    );
    console.log(`  cold, other cache ${(again.ms / 1000).toFixed(2)} s`);
    console.log(
      `  same rootfs bytes ${again.rootfs.rootfsSha256 === cold.rootfs.rootfsSha256} (${cold.rootfs.rootfsSha256.slice(0, 16)}…)`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
