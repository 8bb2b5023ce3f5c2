/**
 * Revision artifacts to nodes (`npx tsx bench/artifact-fetch.ts`): a coordinator serving on
 * loopback (HTTP, SQLite) builds the dev image into a revision (kernel, first stage, rootfs:
 * tens of MB), its pool runs one instance on each of two nodes, and each node's revision
 * cache fetches it: the first node, then the second (the figure the issue asks for), the
 * second again from its cache (a new process: every artifact hashed again), and a fetch
 * resumed halfway (Range) after a transfer was cut short.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RevisionCache } from '../src/agent/artifacts/revision-cache.ts';
import { serveCoordinator } from '../src/coordinator/serve.ts';
import { artifactsOf, revisionBytes } from '../src/core/revision.ts';
import type { BuildProgressView } from '../src/contract/revisions.ts';
import { DEFAULT_CACHE_DIR } from '../src/drivers/dev-image/cache-dir.ts';
import { createApiClient, type ApiClient } from '../src/drivers/coordinator-api/api-client.ts';

const MIB = 1024 * 1024;
const port = 20_000 + Math.floor(Math.random() * 20_000);

async function built(api: ApiClient, started: BuildProgressView): Promise<string> {
  let view = started;
  while (view.build.status === 'running') {
    await new Promise((done) => setTimeout(done, 200));
    view = await api.call('getBuild', {
      params: { tenant: 'bench', pool: 'web', build: view.build.id },
      query: { logFrom: view.logNext },
    });
  }
  if (!view.revision) throw new Error(`build failed: ${view.build.error ?? '?'}`);
  return view.revision.id;
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mvm-bench-fetch-'));
  const dataDir = join(work, 'coordinator');
  await mkdir(dataDir, { recursive: true });
  const coordinator = await serveCoordinator(
    {
      listen: `127.0.0.1:${port}`,
      databaseUrl: join(dataDir, 'coordinator.sqlite'),
      clusterCidr: '10.240.0.0/12',
      dataDir,
      images: { dev: { cacheDir: process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR } },
    },
    { logger: pino({ level: 'silent' }) },
  );
  try {
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const api = createApiClient({ baseUrl: coordinator.url, token, timeoutMs: 600_000 });
    for (const node of ['node-a', 'node-b']) {
      await api.call('registerNode', {
        params: { node },
        body: { hostname: node, arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 50 } },
      });
    }
    await api.call('createTenant', { body: { id: 'bench' } });
    await api.call('createPool', {
      params: { tenant: 'bench' },
      body: { id: 'web', vcpus: 1, memMib: 256 },
    });
    const build = await timed(async () =>
      built(
        api,
        await api.call('startBuild', { params: { tenant: 'bench', pool: 'web' }, body: {} }),
      ),
    );
    const revision = build.value;
    await api.call('updatePool', { params: { tenant: 'bench', pool: 'web' }, body: { revision } });
    await api.call('scalePool', { params: { tenant: 'bench', pool: 'web' }, body: { running: 2 } });
    const cache = (node: string) =>
      new RevisionCache({ root: join(work, node), coordinator: { api, nodeId: node } });
    const first = await timed(() => cache('node-a').ensure(revision));
    const second = await timed(() => cache('node-b').ensure(revision));
    const cached = await timed(() => cache('node-b').ensure(revision));
    // Cut the rootfs short halfway on a third copy; the cache resumes it with Range.
    const { manifest } = second.value;
    const rootfs = manifest.rootfs;
    const whole = await readFile(second.value.path(rootfs));
    const third = join(work, 'node-b-resume');
    await mkdir(join(third, 'partial'), { recursive: true });
    await writeFile(join(third, 'partial', rootfs.sha256), whole.subarray(0, whole.length >> 1));
    const resumed = await timed(() =>
      new RevisionCache({ root: third, coordinator: { api, nodeId: 'node-b' } }).ensure(revision),
    );
    const bytes = revisionBytes(manifest);
    const rate = (ms: number) => `${(bytes / MIB / (ms / 1000)).toFixed(0)} MiB/s`;
    console.log(
      `\nrevision ${revision.slice(0, 12)}: ${artifactsOf(manifest).length} artifacts, ${(bytes / MIB).toFixed(1)} MiB`,
    );
    console.log(`  build (dev image, cached inputs) ${(build.ms / 1000).toFixed(2)} s`);
    console.log(
      `  fetch to node-a (cold)           ${(first.ms / 1000).toFixed(2)} s  (${rate(first.ms)})`,
    );
    console.log(
      `  fetch to node-b (second node)    ${(second.ms / 1000).toFixed(2)} s  (${rate(second.ms)})`,
    );
    console.log(
      `  node-b again, from its cache     ${(cached.ms / 1000).toFixed(2)} s  (every artifact hashed)`,
    );
    console.log(`  new cache, half the rootfs there  ${(resumed.ms / 1000).toFixed(2)} s`);
    console.log(`  over HTTP on loopback; sha256 checked on every byte received`);
  } finally {
    await coordinator.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
