import { createHash } from 'node:crypto';
import {
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { DriveSpec } from '../../ports/vmm.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { DEFAULT_CACHE_DIR, makeStagingDir, publishDir } from './cache-dir.ts';
import { ensureGuestAgent } from './guest-agent-binary.ts';
import { executorPayload } from './executor-payload.ts';
import type { CpioEntry } from './cpio-newc.ts';
import { MVM_INIT_PATH } from './guest-channels.ts';
import { ensureInitDrive, initDrivePath } from './init-drive.ts';
import { buildInitramfs } from './initramfs.ts';
import { ensureDevKernel } from './kernel.ts';
import type { DevKernel, DevKernelOptions } from './kernel.ts';
import { MICROVM_MODULES, moduleName, resolveModuleOrder } from './module-order.ts';
import { buildRootfsImage, hashEntries, rootfsEntries } from './rootfs.ts';
import { sha256File } from '../fs/sha256-file.ts';

/** Bump when the layout of the image changes in a way the inputs below do not capture. */
const BUILDER_VERSION = 'mvm-dev-image/3';

export interface DevImage {
  /** sha256 over the kernel, the initramfs and the rootfs contents: the image revision. */
  revision: string;
  dir: string;
  vmlinux: string;
  /** First stage: modules, then switch to the rootfs drive with mvm's drive at /mvm. */
  initrd: string;
  /** Read-only ext4 (label `rootfs`) shared by every instance of the revision. */
  rootfs: string;
  /** mvm's read-only drive (label `mvm-init`: init, agent, busybox), shared across images. */
  initDrive: string;
  /** Kernel parameters the image needs; VMM drivers append their own and per-instance ones. */
  cmdlineBase: string;
}

export interface BuildDevImageOptions {
  cacheDir?: string;
  runner: ProcessRunner;
  logger?: Logger;
  /** Statically linked busybox to put in the image (config: MVM_BUSYBOX); default /bin/busybox. */
  busyboxPath?: string;
  /** C compiler for the guest agent (config: MVM_GUEST_CC); default gcc. */
  guestCc?: string;
  kernel?: DevKernelOptions;
  /** Modules to load at boot (their dependencies are added). */
  modules?: readonly string[];
  /**
   * A worker image: add Node and the job executor under /opt/mvm-executor (executor-payload.ts;
   * about 100 MB more rootfs). `nodePath` picks the Node binary (default: this process's).
   */
  executor?: { nodePath?: string };
}

interface Inputs {
  kernel: DevKernel;
  busybox: Buffer;
  applets: string[];
  initrdInit: string;
  mvmInit: string;
  agentSh: string;
  /** The static version-2 agent, compiled from src/guest/agent. */
  agent: Buffer;
  modules: Array<{ name: string; data: Buffer }>;
  /** The worker image's extra rootfs entries (Node, the executor); empty for a plain image. */
  extra: CpioEntry[];
}

const CMDLINE_BASE = 'console=ttyS0 quiet panic=-1';
const INITRD_INIT_PATH = fileURLToPath(new URL('../../../images/dev/initrd-init', import.meta.url));
const AGENT_PATH = fileURLToPath(new URL('../../guest/agent.sh', import.meta.url));

/**
 * Builds (or finds in the cache) the dev guest image: a Debian kernel, a small initramfs
 * (busybox, modules, first-stage /init), a read-only ext4 rootfs (the image: a busybox
 * userland) and mvm's read-only init drive (init, the static agent, busybox). Content-addressed
 * under `<cacheDir>/images/<revision>` (the init drive under `init-drives/<digest>`, shared);
 * an index by input hash makes a repeat call a lookup, not a rebuild.
 */
export async function buildDevImage(options: BuildDevImageOptions): Promise<DevImage> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const log = options.logger ?? silentLogger;
  const inputs = await gatherInputs(cacheDir, options);
  const inputKey = hashInputs(inputs);
  const indexFile = join(cacheDir, 'images', 'by-input', inputKey);
  const known = await readFile(indexFile, 'utf8').catch(() => undefined);
  if (known !== undefined) {
    const cached = await readImage(cacheDir, known.trim());
    if (cached) return cached;
  }
  const started = Date.now();
  const image = await buildImage(cacheDir, inputs, options.runner);
  await mkdir(join(cacheDir, 'images', 'by-input'), { recursive: true });
  await writeFile(`${indexFile}.tmp`, `${image.revision}\n`);
  await rename(`${indexFile}.tmp`, indexFile);
  log.info({ revision: image.revision, ms: Date.now() - started }, 'built dev image');
  return image;
}

async function gatherInputs(cacheDir: string, options: BuildDevImageOptions): Promise<Inputs> {
  const kernel = await ensureDevKernel(cacheDir, options.runner, options.kernel ?? {});
  const busyboxPath = options.busyboxPath ?? '/bin/busybox';
  const busybox = await readFile(busyboxPath);
  assertStatic(busybox, busyboxPath);
  const list = await options.runner.run(busyboxPath, ['--list']);
  const applets = list.stdout.split('\n').filter(Boolean).sort();
  const tables = {
    dep: await readFile(join(kernel.modulesDir, 'modules.dep'), 'utf8'),
    builtin: await readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8'),
  };
  const order = resolveModuleOrder(options.modules ?? MICROVM_MODULES, tables);
  const modules = await Promise.all(
    order.map(async (rel) => ({
      name: moduleName(rel),
      data: await readModule(join(kernel.modulesDir, rel), options.runner),
    })),
  );
  const [initrdInit, mvmInit, agentSh] = await Promise.all([
    readFile(INITRD_INIT_PATH, 'utf8'),
    readFile(MVM_INIT_PATH, 'utf8'),
    readFile(AGENT_PATH, 'utf8'),
  ]);
  const binary = await ensureGuestAgent(cacheDir, options.runner, {
    ...(options.guestCc ? { cc: options.guestCc } : {}),
  });
  const agent = await readFile(binary.path);
  const extra = options.executor
    ? await executorPayload({ runner: options.runner, ...options.executor })
    : [];
  return { kernel, busybox, applets, initrdInit, mvmInit, agentSh, agent, modules, extra };
}

/** Busybox-as-PID-1 in an initramfs has no dynamic loader to run with. */
function assertStatic(elf: Buffer, path: string): void {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || hasInterpreter(elf)) {
    throw new HostError(
      `'${path}' is not a statically linked busybox; install busybox-static or set MVM_BUSYBOX`,
    );
  }
}

/** True when an ELF64 file has a PT_INTERP program header, i.e. is dynamically linked. */
function hasInterpreter(elf: Buffer): boolean {
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i += 1) {
    if (elf.readUInt32LE(phoff + i * size) === 3) return true;
  }
  return false;
}

async function readModule(path: string, runner: ProcessRunner): Promise<Buffer> {
  if (!path.endsWith('.ko.xz')) return readFile(path);
  // busybox insmod cannot decompress; newer Debian kernels ship xz-compressed modules.
  const scratch = await mkdtemp(join(tmpdir(), 'mvm-ko-'));
  try {
    const copy = join(scratch, 'module.ko.xz');
    await copyFile(path, copy);
    await runner.run('xz', ['-d', '-q', copy]);
    return await readFile(join(scratch, 'module.ko'));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function hashInputs(inputs: Inputs): string {
  const hash = createHash('sha256').update(BUILDER_VERSION).update(CMDLINE_BASE);
  hash.update(inputs.kernel.version).update(inputs.busybox).update(inputs.applets.join(','));
  hash.update(inputs.initrdInit).update(inputs.mvmInit).update(inputs.agentSh).update(inputs.agent);
  for (const mod of inputs.modules) hash.update(mod.name).update(mod.data);
  if (inputs.extra.length > 0) hash.update(hashEntries(inputs.extra));
  return hash.digest('hex');
}

async function buildImage(
  cacheDir: string,
  inputs: Inputs,
  runner: ProcessRunner,
): Promise<DevImage> {
  const initrd = buildInitramfs({ ...inputs, init: inputs.initrdInit });
  const tree = [...rootfsEntries(inputs), ...inputs.extra];
  const initDrive = await ensureInitDrive(cacheDir, runner, { ...inputs, init: inputs.mvmInit });
  const kernelSha = await sha256File(inputs.kernel.vmlinux);
  const initrdSha = createHash('sha256').update(initrd).digest('hex');
  const rootfsSha = hashEntries(tree);
  const revision = createHash('sha256')
    .update(`kernel:${kernelSha}\ninitrd:${initrdSha}\nrootfs:${rootfsSha}\n`)
    .update(`mvm-init:${initDrive.digest}\n`)
    .digest('hex');
  const existing = await readImage(cacheDir, revision);
  if (existing) return existing;
  const staging = await makeStagingDir(join(cacheDir, 'images'), revision.slice(0, 12));
  await linkOrCopy(inputs.kernel.vmlinux, join(staging, 'vmlinux'));
  await writeFile(join(staging, 'initrd.cpio.gz'), initrd);
  await buildRootfsImage(runner, join(staging, 'rootfs.ext4'), tree);
  const manifest = {
    revision,
    builder: BUILDER_VERSION,
    kernel: { release: inputs.kernel.version, sha256: kernelSha },
    initrd: { sha256: initrdSha, bytes: initrd.length },
    rootfs: { contentSha256: rootfsSha, entries: tree.length },
    initDrive: { contentSha256: initDrive.digest },
    modules: inputs.modules.map((mod) => mod.name),
    cmdlineBase: CMDLINE_BASE,
  };
  await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await publishDir(staging, join(cacheDir, 'images', revision));
  const image = await readImage(cacheDir, revision);
  if (!image) throw new HostError(`image cache entry for ${revision} is incomplete`);
  return image;
}

async function readImage(cacheDir: string, revision: string): Promise<DevImage | undefined> {
  if (!/^[0-9a-f]{64}$/.test(revision)) return undefined;
  const dir = join(cacheDir, 'images', revision);
  const text = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // Entries of the first builder had no rootfs; they are rebuilt, not used.
  if (!(await stat(join(dir, 'rootfs.ext4')).catch(() => undefined))) return undefined;
  const manifest = JSON.parse(text) as {
    cmdlineBase?: unknown;
    initDrive?: { contentSha256?: unknown };
  };
  const digest = manifest.initDrive?.contentSha256;
  // Entries of builders before the init drive are rebuilt, as is one whose drive was removed.
  if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) return undefined;
  const initDrive = initDrivePath(cacheDir, digest);
  if (!(await stat(initDrive).catch(() => undefined))) return undefined;
  return {
    revision,
    dir,
    vmlinux: join(dir, 'vmlinux'),
    initrd: join(dir, 'initrd.cpio.gz'),
    rootfs: join(dir, 'rootfs.ext4'),
    initDrive,
    cmdlineBase: typeof manifest.cmdlineBase === 'string' ? manifest.cmdlineBase : CMDLINE_BASE,
  };
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  // The kernel is 50+ MB; share it with the kernel cache when both are on one filesystem.
  await link(from, to).catch(() => copyFile(from, to));
}

/** The drives every VM booted from the image needs: its root filesystem and mvm's drive. */
export function imageDrives(image: Pick<DevImage, 'rootfs' | 'initDrive'>): DriveSpec[] {
  return [
    { id: 'rootfs', path: image.rootfs, readOnly: true },
    { id: 'mvm-init', path: image.initDrive, readOnly: true },
  ];
}
