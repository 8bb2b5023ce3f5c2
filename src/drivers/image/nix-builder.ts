import { createHash } from 'node:crypto';
import { link, lstat, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { HostError, ValidationError } from '../../core/errors.ts';
import { isLocalFlake, nixAttribute } from '../../core/pool-source.ts';
import { runConfigOf, runSpecOf } from '../../core/image-run-config.ts';
import type { RunSpec } from '../../contract/oci-image.ts';
import { nixWorkloadSchema } from '../../contract/revisions.ts';
import type {
  BuildContext,
  BuildInput,
  BuiltImage,
  ImageBuilder,
} from '../../ports/image-builder.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { DevImages } from './dev-builder.ts';
import { ext4FromDir, rootfsFormatOf } from './rootfs-image.ts';
import { ensureRunSpecDrive } from './run-spec-drive.ts';
import { readProfilesToml } from './profiles-toml.ts';
import { driveSetFromProfiles } from '../../core/profiles.ts';
import type { Role } from '../../core/model.ts';
import type { RoleDriveSet } from '../../core/roles.ts';

export interface NixBuilderOptions {
  runner: ProcessRunner;
  /** Lends its first stage to outputs without their own initrd. */
  devImages: DevImages;
  /** `nix` on PATH unless told. */
  nix?: string;
  /** `nix-instantiate` on PATH unless told: reads mvm-profiles.toml (builtins.fromTOML). */
  nixInstantiate?: string;
  /** More `--option NAME VALUE` pairs, e.g. substituters '' on a host without a cache. */
  options?: ReadonlyArray<readonly [string, string]>;
}

const FEATURES = ['--extra-experimental-features', 'nix-command flakes'];

/**
 * What every build is run with: the sandbox on, and no way around it (a host where it cannot
 * work fails the build instead of building unsandboxed), and no import-from-derivation (which
 * would build tenant code while evaluating, before these options are in force).
 */
const SANDBOX = [
  ['sandbox', 'true'],
  ['sandbox-fallback', 'false'],
  ['allow-import-from-derivation', 'false'],
] as const;

const metadataSchema = z.object({
  path: z.string(),
  locked: z.object({ narHash: z.string().optional() }).optional(),
});

/**
 * Builds a flake's guest image (seed 003): `nix build <flake>#tenant-<role>-<profile>` when
 * the flake has `mvm-profiles.toml`, else `#tenant-<profile>`. The output is a directory:
 *   vmlinux            the kernel (required)
 *   rootfs.ext4 | rootfs.erofs | rootfs/   the root filesystem (an image, or a tree mvm makes
 *                      into a read-only ext4 labelled `rootfs`; it needs /dev /proc /sys /mvm)
 *   initrd             optional; else mvm's first stage (the dev image's) is used
 *   cmdline            optional kernel parameters; else mvm's (console=ttyS0 quiet panic=-1)
 *   mvm-image.json     optional workload: {entrypoint, cmd, env, workingDir, user}, the
 *                      OCI config's Entrypoint, Cmd, Env, WorkingDir and User (same rules)
 */
export class NixImageBuilder implements ImageBuilder {
  constructor(private readonly options: NixBuilderOptions) {}

  async build(input: BuildInput, context: BuildContext): Promise<BuiltImage> {
    if (input.source.kind !== 'nix') throw new ValidationError('not a flake source');
    const { flake, profile } = input.source;
    const ref = await this.buildableRef(flake, input.upload, context);
    await context.log(`flake ${flake}${ref === flake ? '' : ` (uploaded: ${ref})`}`);
    const metadata = await this.metadata(ref);
    const manifest = await exists(join(metadata.path, 'mvm-profiles.toml'));
    const attribute = nixAttribute(input.role, profile, manifest);
    const drives = manifest
      ? await this.driveSet(join(metadata.path, 'mvm-profiles.toml'), input.role, profile, context)
      : undefined;
    await context.log(
      `nix build ${flake}#${attribute} (${manifest ? 'mvm-profiles.toml found' : 'no mvm-profiles.toml: legacy attribute'}; sandboxed)`,
    );
    const out = await this.nixBuild(`${ref}#${attribute}`, context);
    await context.log(`output ${out}`);
    return {
      ...(await this.outputFiles(out, context)),
      ...(drives ? { drives } : {}),
      source: {
        kind: 'nix',
        flake,
        attribute,
        narHash: metadata.locked?.narHash ?? null,
        lockSha256: await sha256Of(join(metadata.path, 'flake.lock')),
      },
    };
  }

  /** The role's drive set from mvm-profiles.toml, checked before anything is built. */
  private async driveSet(
    path: string,
    role: Role,
    profile: string,
    context: BuildContext,
  ): Promise<RoleDriveSet> {
    const profiles = await readProfilesToml(this.options.runner, path, this.options.nixInstantiate);
    const found = driveSetFromProfiles(profiles, role, profile);
    if ('problems' in found) {
      throw new ValidationError(
        `cannot build role ${role}, profile ${profile}: ${found.problems.join('; ')}`,
        found.problems,
      );
    }
    const yes = (on: boolean) => (on ? 'yes' : 'no');
    await context.log(
      `drives for role ${role} (mvm-profiles.toml): secrets ${yes(found.drives.secrets)}, config ${yes(found.drives.config)}`,
    );
    return found.drives;
  }

  /** A flake on the caller's machine arrives as a tarball with one top-level directory. */
  private async buildableRef(flake: string, upload: string | undefined, context: BuildContext) {
    if (!isLocalFlake(flake)) return flake;
    if (upload === undefined) {
      throw new ValidationError(
        `flake '${flake}' is a path on the caller's machine: build it with 'mvm pool build', which packs and uploads it`,
      );
    }
    // Nix tells a tarball by its name.
    const tarball = join(context.workDir, 'flake.tar');
    await link(upload, tarball);
    return `file://${tarball}`;
  }

  private args(): string[] {
    const options = [...SANDBOX, ...(this.options.options ?? [])];
    return [...FEATURES, ...options.flatMap(([name, value]) => ['--option', name, value])];
  }

  private async metadata(ref: string): Promise<z.infer<typeof metadataSchema>> {
    const nix = this.options.nix ?? 'nix';
    const result = await this.options.runner.run(
      nix,
      ['flake', 'metadata', '--json', ...this.args(), ref],
      { timeoutMs: 600_000 },
    );
    return metadataSchema.parse(JSON.parse(result.stdout));
  }

  /** Runs the build with its output going to the build log; returns the output path. */
  private async nixBuild(installable: string, context: BuildContext): Promise<string> {
    const link = join(context.workDir, 'result');
    const args = ['build', '-L', '--out-link', link, ...this.args(), installable];
    const child = this.options.runner.spawn(this.options.nix ?? 'nix', args, {
      logFile: context.logFile,
      cwd: context.workDir,
    });
    const stop = () => child.kill('SIGTERM');
    context.signal.addEventListener('abort', stop, { once: true });
    const code = await child.exited.finally(() =>
      context.signal.removeEventListener('abort', stop),
    );
    if (code !== 0) {
      throw new HostError(
        `nix build ${installable} failed (exit ${String(code)}); its output is in the build log`,
      );
    }
    return realpath(link);
  }

  private async outputFiles(out: string, context: BuildContext) {
    const kernel = join(out, 'vmlinux');
    if (!(await exists(kernel))) {
      throw new HostError(`the flake's output ${out} has no vmlinux (see nix/README.md)`);
    }
    const initrd = (await exists(join(out, 'initrd')))
      ? join(out, 'initrd')
      : (await this.options.devImages.load(context)).initrd;
    const cmdlineFile = join(out, 'cmdline');
    const cmdline = (await exists(cmdlineFile))
      ? (await readFile(cmdlineFile, 'utf8')).trim()
      : (await this.options.devImages.load()).cmdlineBase;
    return {
      kernel,
      initrd,
      rootfs: await this.rootfs(out, context),
      cmdline,
      workload: await this.workload(join(out, 'mvm-image.json'), context),
    };
  }

  private async rootfs(out: string, context: BuildContext): Promise<string> {
    for (const name of ['rootfs.ext4', 'rootfs.erofs']) {
      const path = join(out, name);
      if (await exists(path)) {
        await rootfsFormatOf(path);
        return path;
      }
    }
    const tree = join(out, 'rootfs');
    if (!(await exists(tree))) {
      throw new HostError(`the flake's output ${out} has no rootfs.ext4, rootfs.erofs or rootfs/`);
    }
    const image = join(context.workDir, 'rootfs.ext4');
    await context.log('making rootfs/ into a read-only ext4 (mkfs.ext4 -d)');
    // The store path's hash names the tree's content: the image is the same for the same output.
    const seed = createHash('sha256').update(out).digest('hex');
    await ext4FromDir(this.options.runner, tree, image, seed);
    return image;
  }

  private async workload(path: string, context: BuildContext) {
    const spec = await workloadOf(path);
    if (spec === null) return null;
    const drive = await ensureRunSpecDrive(context.workDir, this.options.runner, spec);
    return { spec, drive: drive.path };
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

async function sha256Of(path: string): Promise<string | null> {
  const data = await readFile(path).catch(() => undefined);
  return data === undefined ? null : createHash('sha256').update(data).digest('hex');
}

/** The output's mvm-image.json as the guest's run spec, by the OCI image config's rules. */
async function workloadOf(path: string): Promise<RunSpec | null> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return null;
  const parsed = nixWorkloadSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new HostError(`the flake's mvm-image.json is not a workload: ${parsed.error.message}`);
  }
  const w = parsed.data;
  return runSpecOf(
    runConfigOf({
      config: {
        Entrypoint: w.entrypoint ?? null,
        Cmd: w.cmd ?? null,
        Env: w.env ?? null,
        WorkingDir: w.workingDir ?? null,
        User: w.user ?? null,
      },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
}
