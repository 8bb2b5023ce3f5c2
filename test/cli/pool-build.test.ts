import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import { revisionIdOf, type RevisionView } from '../../src/contract/revisions.ts';
import { writeOciImage, type WrittenImage } from '../support/oci-fixture.ts';
import { webImage } from '../support/oci-images.ts';
import { describeEachCoordinator } from './support/in-process-coordinator.ts';
import { runIn } from './support/run-cli.ts';

/**
 * `mvm pool build` against a real coordinator (SQLite and Postgres) with its real builders:
 * an OCI layout assembled here, packed and uploaded by the CLI, imported with skopeo, umoci
 * and mkfs.ext4; a self-contained flake (no inputs: this host has no nixpkgs) built by a real
 * `nix build` with the sandbox on. Each records a revision whose id is the hash of its
 * manifest, which names every artifact the coordinator stored by its sha256.
 */
let work: string;
let image: WrittenImage;
let flake: string;

/** A flake whose builder is a static busybox it carries: a kernel stand-in, a rootfs tree, a workload. */
async function writeFlake(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await cp('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const applet of ['sh', 'mkdir', 'cp']) await symlink('busybox', join(dir, 'bin', applet));
  await mkdir(join(dir, 'tree', 'etc'), { recursive: true });
  await writeFile(join(dir, 'tree', 'etc', 'hello'), 'from the flake\n');
  await writeFile(join(dir, 'vmlinux'), 'not a kernel: this build is never booted\n');
  await writeFile(
    join(dir, 'flake.nix'),
    `{
  outputs = { self }: {
    tenant-minimal = builtins.derivation {
      name = "tenant-minimal";
      system = "x86_64-linux";
      builder = "\${./bin}/sh";
      PATH = "\${./bin}";
      args = [ "-c" "mkdir -p $out && cp \${./vmlinux} $out/vmlinux && cp -r \${./tree} $out/rootfs && echo '{\\"cmd\\":[\\"/bin/sh\\",\\"-c\\",\\"sleep 1000\\"],\\"env\\":[\\"FROM=nix\\"]}' > $out/mvm-image.json" ];
    };
  };
}
`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mvm-pool-build-'));
  image = await writeOciImage(join(work, 'web'), await webImage());
  flake = join(work, 'flake');
  await writeFlake(flake);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

await describeEachCoordinator(
  'mvm pool build',
  (coordinator) => {
    const mvm = (line: string) =>
      runIn(line.split(' '), {
        env: { MVM_DATA_DIR: coordinator().dataDir },
        readText: readTextFile,
        defaultConfigFile: join(coordinator().dataDir, 'no-config.json'),
        fetch: coordinator().fetch,
      });
    const ok = async (line: string) => {
      const run = await mvm(line);
      expect(run.code, `${line}\n${run.stderr}`).toBe(0);
      return run;
    };
    const artifact = (hex: string) =>
      readFile(join(coordinator().dataDir, 'artifacts', 'sha256', hex));

    it('builds an OCI image into a revision named by the hash of its artifacts', async () => {
      await ok('tenant create acme --net-id 42');
      await ok(`pool create acme/web --image oci:${image.dir}:web --cpus 1 --mem 256`);
      const run = await ok('pool build acme/web --json');
      // Progress goes to stderr as it happens; stdout is the revision alone.
      expect(run.stderr).toContain(`packed OCI layout ${image.dir}`);
      expect(run.stderr).toContain(`is ${image.manifestDigest}`);
      expect(run.stderr).toMatch(/stored rootfs: sha256 [0-9a-f]{64}/);
      const revision = JSON.parse(run.stdout) as RevisionView;
      expect(revision.id).toBe(revisionIdOf(revision.manifest));
      expect(revision.source).toEqual({
        kind: 'oci',
        ref: `oci:${image.dir}:web`,
        digest: image.manifestDigest,
      });
      expect(revision.builtBy).toBe('admin:admin');
      expect(revision.manifest.workload).toMatchObject({
        cwd: '/app',
        user: 'app',
        env: { GREETING: 'hello', PATH: '/bin' },
        ports: [8080],
      });
      // Every artifact the manifest names is stored under its own sha256, with its size.
      const { kernel, rootfs, runSpec } = revision.manifest;
      for (const ref of [kernel, rootfs, runSpec ?? kernel]) {
        const bytes = await artifact(ref.sha256);
        expect(sha256(bytes)).toBe(ref.sha256);
        expect(bytes.length).toBe(ref.bytes);
      }
      expect(revision.bytes).toBeGreaterThan(rootfs.bytes);
      expect((await artifact(revision.log?.sha256 ?? '')).toString()).toContain('stored kernel');

      // The same image again: the same bytes, so the same revision (and no second row).
      const again = JSON.parse((await ok('pool build acme/web --json')).stdout) as RevisionView;
      expect(again.id).toBe(revision.id);
      expect(again.manifest.rootfs).toEqual(rootfs);
      const listed = JSON.parse(
        (await ok('pool revisions acme/web --json')).stdout,
      ) as RevisionView[];
      expect(listed.map((r) => r.id)).toEqual([revision.id]);
      expect((await ok('pool revisions acme/web')).stdout).toContain(revision.id.slice(0, 12));

      // An unknown revision is refused and changes nothing; a built one is taken.
      const before = (await ok('pool info acme/web --json')).stdout;
      const unknown = await mvm(`pool update acme/web --revision ${'0'.repeat(64)}`);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain('mvm pool revisions acme/web');
      expect((await ok('pool info acme/web --json')).stdout).toBe(before);
      await ok(`pool update acme/web --revision ${revision.id}`);
      await ok('pool scale acme/web --running 1');
      const list = (await ok('instance list --tenant acme --pool web')).stdout;
      expect(list).toContain(revision.id.slice(0, 12));
      const [current] = JSON.parse(
        (await ok('pool revisions acme/web --json')).stdout,
      ) as RevisionView[];
      expect(current?.current).toBe(true);
    }, 300_000);

    it('builds a self-contained flake with nix build, the sandbox on', async () => {
      await ok('tenant create acme --net-id 42');
      await ok(`pool create acme/nixed --flake ${flake} --profile minimal --cpus 1 --mem 256`);
      const run = await ok('pool build acme/nixed --json');
      expect(run.stderr).toContain('#tenant-minimal');
      expect(run.stderr).toContain('sandboxed');
      const revision = JSON.parse(run.stdout) as RevisionView;
      expect(revision.id).toBe(revisionIdOf(revision.manifest));
      expect(revision.source).toMatchObject({
        kind: 'nix',
        flake,
        attribute: 'tenant-minimal',
        lockSha256: null,
      });
      expect((await artifact(revision.manifest.kernel.sha256)).toString()).toContain(
        'not a kernel',
      );
      expect(revision.manifest.workload).toMatchObject({
        argv: ['/bin/sh', '-c', 'sleep 1000'],
        env: { FROM: 'nix' },
      });
      // The rootfs/ tree became a reproducible ext4: built again, the same revision.
      const again = JSON.parse((await ok('pool build acme/nixed --json')).stdout) as RevisionView;
      expect(again.id).toBe(revision.id);
    }, 300_000);

    it('records a failed build with its log, and no revision', async () => {
      await ok('tenant create acme --net-id 42');
      await writeFile(join(flake, 'broken.nix'), '');
      await ok(`pool create acme/broken --flake ${flake} --profile absent --cpus 1 --mem 256`);
      const run = await mvm('pool build acme/broken');
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('tenant-absent');
      expect(run.stderr).toMatch(/build \S+ of 'acme\/broken' failed/);
      expect(JSON.parse((await ok('pool revisions acme/broken --json')).stdout)).toEqual([]);
    }, 300_000);
  },
  { images: true },
);
