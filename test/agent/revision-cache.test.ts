import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RevisionCache } from '../../src/agent/artifacts/revision-cache.ts';
import { revisionImageSource, type ImageSource } from '../../src/agent/runtime/image-source.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { RevisionView } from '../../src/contract/revisions.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import { artifactsOf } from '../../src/core/revision.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { describeEachCoordinator } from '../cli/support/in-process-coordinator.ts';
import { runIn } from '../cli/support/run-cli.ts';

/**
 * Revisions reach nodes: a revision built once on a real coordinator (SQLite and Postgres;
 * a real `nix build` of a self-contained flake) is fetched by two nodes' caches, each
 * checking every artifact's sha256; a corrupted or truncated artifact in a node's cache is
 * refused and fetched again, a cut-short transfer resumes with Range, and a node that runs
 * no instance of the pool gets nothing.
 */
let work: string;
let flake: string;

async function writeFlake(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await cp('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const applet of ['sh', 'mkdir', 'cp']) await symlink('busybox', join(dir, 'bin', applet));
  await mkdir(join(dir, 'tree', 'etc'), { recursive: true });
  await writeFile(join(dir, 'tree', 'etc', 'hello'), 'from the flake\n');
  await writeFile(join(dir, 'vmlinux'), 'a kernel stand-in\n'.repeat(4096));
  await writeFile(
    join(dir, 'flake.nix'),
    `{
  outputs = { self }: {
    tenant-minimal = builtins.derivation {
      name = "tenant-minimal";
      system = "x86_64-linux";
      builder = "\${./bin}/sh";
      PATH = "\${./bin}";
      args = [ "-c" "mkdir -p $out && cp \${./vmlinux} $out/vmlinux && cp -r \${./tree} $out/rootfs" ];
    };
  };
}
`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvm-revcache-'));
  flake = join(work, 'flake');
  await writeFlake(flake);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Every artifact request a node sends, with its Range header. */
interface Seen {
  path: string;
  range: string | null;
  status: number;
}

await describeEachCoordinator(
  'revision artifacts on nodes',
  (coordinator) => {
    const mvm = async (line: string) => {
      const run = await runIn(line.split(' '), {
        env: { MVM_DATA_DIR: coordinator().dataDir },
        readText: readTextFile,
        defaultConfigFile: join(coordinator().dataDir, 'no-config.json'),
        fetch: coordinator().fetch,
      });
      expect(run.code, `${line}\n${run.stderr}`).toBe(0);
      return run;
    };
    const client = async (seen: Seen[] = []): Promise<ApiClient> => {
      const token = (await readFile(join(coordinator().dataDir, 'admin.token'), 'utf8')).trim();
      return createApiClient({
        baseUrl: 'http://coordinator.test',
        token,
        fetch: async (request) => {
          const response = await coordinator().fetch(request);
          if (request.url.includes('/artifacts/')) {
            seen.push({
              path: new URL(request.url).pathname,
              range: request.headers.get('range'),
              status: response.status,
            });
          }
          return response;
        },
      });
    };
    const register = (api: ApiClient, node: string) =>
      api.call('registerNode', {
        params: { node },
        body: {
          hostname: node,
          arch: 'x86_64',
          capacity: { vcpus: 16, memMib: 16384, diskGib: 50 },
        },
      });

    /** A built revision that the pool's two instances (one on each of node-a, node-b) run. */
    async function builtAndPlaced(api: ApiClient): Promise<RevisionView> {
      await register(api, 'node-a');
      await register(api, 'node-b');
      await mvm('tenant create acme --net-id 42');
      await mvm(`pool create acme/web --flake ${flake} --profile minimal --cpus 1 --mem 256`);
      const revision = JSON.parse((await mvm('pool build acme/web --json')).stdout) as RevisionView;
      await mvm(`pool update acme/web --revision ${revision.id}`);
      await mvm('pool scale acme/web --running 2');
      const instances = (await api.call('listInstances', {
        query: { tenant: 'acme', pool: 'web' },
      })) as InstanceView[];
      expect(instances.map((i) => i.nodeId).sort()).toEqual(['node-a', 'node-b']);
      expect(instances.map((i) => i.revision)).toEqual([revision.id, revision.id]);
      await register(api, 'node-c');
      return revision;
    }

    it('a revision built once is fetched by a second node, each artifact checked', async () => {
      const seen: Seen[] = [];
      const api = await client(seen);
      const revision = await builtAndPlaced(api);
      // Fresh caches per database: the same flake gives the same revision on both.
      const dir = await mkdtemp(join(work, 'nodes-'));
      const nodes = ['node-a', 'node-b'].map(
        (nodeId) => new RevisionCache({ root: join(dir, nodeId), coordinator: { api, nodeId } }),
      );
      for (const cache of nodes) {
        const cached = await cache.ensure(revision.id);
        expect(cached.manifest).toEqual(revision.manifest);
        for (const ref of artifactsOf(cached.manifest)) {
          const bytes = await readFile(cached.path(ref));
          expect(sha256(bytes)).toBe(ref.sha256);
        }
      }
      const artifacts = artifactsOf(revision.manifest).length;
      expect(seen).toHaveLength(2 * artifacts);
      expect(seen.every((s) => s.status === 200 && s.range === null)).toBe(true);
      // Cached: nothing is fetched again.
      await nodes[1]?.ensure(revision.id);
      expect(seen).toHaveLength(2 * artifacts);

      // A node boots the revision from its cache, with its own init drive beside it.
      const base: ImageSource = {
        resolve: () =>
          Promise.resolve({
            revision: 'dev',
            kernelPath: '/dev-kernel',
            initDrivePath: '/node/init.ext4',
            cmdlineBase: 'dev',
          }),
      };
      const booted = await revisionImageSource(base, nodes[1] as RevisionCache).resolve(
        revision.id,
      );
      expect(booted).toMatchObject({
        revision: revision.id,
        kernelPath: join(dir, 'node-b', 'sha256', revision.manifest.kernel.sha256),
        rootfsPath: join(dir, 'node-b', 'sha256', revision.manifest.rootfs.sha256),
        initDrivePath: '/node/init.ext4',
        cmdlineBase: revision.manifest.cmdline,
      });
      expect(
        (await revisionImageSource(base, nodes[1] as RevisionCache).resolve('dev')).kernelPath,
      ).toBe('/dev-kernel');

      // A node that runs no instance of the pool gets neither the manifest nor its bytes.
      const stranger = new RevisionCache({
        root: join(dir, 'node-c'),
        coordinator: { api, nodeId: 'node-c' },
      });
      await expect(stranger.ensure(revision.id)).rejects.toThrow(/runs no pool of it/);
      const denied = await api
        .open('nodeArtifact', {
          params: { node: 'node-c', digest: revision.manifest.kernel.sha256 },
        })
        .catch((error: unknown) => error);
      expect(String(denied)).toMatch(/no revision of a pool node 'node-c' runs has it/);
    }, 300_000);

    it('a corrupted or truncated artifact is refused by its hash and fetched again', async () => {
      const seen: Seen[] = [];
      const api = await client(seen);
      const revision = await builtAndPlaced(api);
      const root = join(await mkdtemp(join(work, 'nodes-')), 'node-a');
      const cache = () => new RevisionCache({ root, coordinator: { api, nodeId: 'node-a' } });
      await cache().ensure(revision.id);
      const { rootfs, kernel } = revision.manifest;
      const rootfsPath = join(root, 'sha256', rootfs.sha256);

      // One byte flipped, same size: refused by its hash (a new process checks again).
      const file = await open(rootfsPath, 'r+');
      await file.write(Buffer.from([0xff ^ (await readFile(rootfsPath))[2000]!]), 0, 1, 2000);
      await file.close();
      seen.length = 0;
      const again = await cache().ensure(revision.id);
      expect(sha256(await readFile(again.path(rootfs)))).toBe(rootfs.sha256);
      expect(seen.map((s) => s.path)).toEqual([`/v1/nodes/node-a/artifacts/${rootfs.sha256}`]);

      // Truncated in the cache: refused and fetched again.
      await writeFile(join(root, 'sha256', kernel.sha256), 'a kernel');
      seen.length = 0;
      await cache().ensure(revision.id);
      expect(sha256(await readFile(join(root, 'sha256', kernel.sha256)))).toBe(kernel.sha256);
      expect(seen).toHaveLength(1);

      // A transfer cut short resumes where it stopped, with Range.
      const whole = await readFile(join(root, 'sha256', kernel.sha256));
      await rm(join(root, 'sha256', kernel.sha256));
      await mkdir(join(root, 'partial'), { recursive: true });
      await writeFile(join(root, 'partial', kernel.sha256), whole.subarray(0, 10_000));
      seen.length = 0;
      await cache().ensure(revision.id);
      expect(seen).toEqual([
        {
          path: `/v1/nodes/node-a/artifacts/${kernel.sha256}`,
          range: 'bytes=10000-',
          status: 206,
        },
      ]);
      expect(await readFile(join(root, 'sha256', kernel.sha256))).toEqual(whole);
      expect(await stat(join(root, 'partial', kernel.sha256)).catch(() => undefined)).toBe(
        undefined,
      );

      // A partial transfer whose bytes are wrong: the whole fails its hash, so it starts over.
      await rm(join(root, 'sha256', kernel.sha256));
      await writeFile(join(root, 'partial', kernel.sha256), Buffer.alloc(10_000, 7));
      seen.length = 0;
      await cache().ensure(revision.id);
      expect(seen.map((s) => [s.range, s.status])).toEqual([
        ['bytes=10000-', 206],
        [null, 200],
      ]);
      expect(await readFile(join(root, 'sha256', kernel.sha256))).toEqual(whole);

      // A manifest edited in the cache no longer hashes to the revision id: fetched anew.
      const manifestPath = cache().manifestPath(revision.id);
      const text = await readFile(manifestPath, 'utf8');
      await writeFile(manifestPath, text.replace(revision.manifest.cmdline, 'init=/evil'));
      const fixed = await cache().ensure(revision.id);
      expect(fixed.manifest.cmdline).toBe(revision.manifest.cmdline);
    }, 300_000);

    it('instance list shows the revision each instance booted, as its agent reports it', async () => {
      const api = await client();
      const revision = await builtAndPlaced(api);
      await mvm('pool update acme/web --revision dev');
      const [first, second] = (await api.call('listInstances', {
        query: { tenant: 'acme', pool: 'web' },
      })) as InstanceView[];
      if (!first || !second) throw new Error('two instances expected');
      const report = (i: InstanceView, revisionId: string) =>
        api.call('reportInstanceStatus', {
          params: { node: i.nodeId ?? '', tenant: 'acme', pool: 'web', instance: i.id },
          body: { status: 'running', revision: revisionId },
        });
      // The first restarted on the pool's new revision; the second still runs the built one.
      expect((await report(first, 'dev')).revision).toBe('dev');
      expect((await report(second, revision.id)).revision).toBe(revision.id);
      // A revision the pool never had is not recorded.
      expect((await report(second, 'e'.repeat(64))).revision).toBe(revision.id);
      const table = (await mvm('instance list --tenant acme --pool web')).stdout;
      expect(table).toMatch(new RegExp(`acme/web/${first.id}\\s.*\\sdev\\s*$`, 'm'));
      expect(table).toMatch(
        new RegExp(`acme/web/${second.id}\\s.*\\s${revision.id.slice(0, 12)}\\s*$`, 'm'),
      );
    }, 300_000);
  },
  { images: true },
);
