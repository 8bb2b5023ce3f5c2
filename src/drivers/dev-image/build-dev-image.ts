import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { silentLogger } from '../process/logger.ts';
import type { DriverLogger } from '../process/logger.ts';
import { defaultCacheDir, makeStagingDir, publishDir } from './cache-dir.ts';
import { buildInitramfs } from './initramfs.ts';
import { ensureDevKernel } from './kernel.ts';
import type { DevKernel, DevKernelOptions } from './kernel.ts';
import { MICROVM_MODULES, moduleName, resolveModuleOrder } from './module-order.ts';

/** Bump when the layout of the image changes in a way the inputs below do not capture. */
const BUILDER_VERSION = 'mvm-dev-image/1';

export interface DevImage {
  /** sha256 over the kernel and the initramfs contents: the image revision. */
  revision: string;
  dir: string;
  vmlinux: string;
  initrd: string;
  /** Not produced: the initramfs is the whole userland of the dev image. */
  rootfs?: string;
  /** Kernel parameters the image needs; VMM drivers append their own and per-instance ones. */
  cmdlineBase: string;
}

export interface BuildDevImageOptions {
  cacheDir?: string;
  runner: ProcessRunner;
  logger?: DriverLogger;
  /** Statically linked busybox to put in the image (also `MVM_BUSYBOX`). */
  busyboxPath?: string;
  kernel?: DevKernelOptions;
  /** Modules to load at boot (their dependencies are added). */
  modules?: readonly string[];
}

interface Inputs {
  kernel: DevKernel;
  busybox: Buffer;
  applets: string[];
  init: string;
  agent: string;
  modules: Array<{ name: string; data: Buffer }>;
}

const CMDLINE_BASE = 'console=ttyS0 quiet panic=-1';
const INIT_PATH = fileURLToPath(new URL('../../../images/dev/init', import.meta.url));
const AGENT_PATH = fileURLToPath(new URL('../../guest/agent.sh', import.meta.url));

/**
 * Builds (or finds in the cache) the dev guest image: a Debian kernel plus an initramfs with
 * busybox, /init and the guest agent. Content-addressed under `<cacheDir>/images/<revision>`;
 * an index by input hash makes a repeat call a lookup, not a rebuild.
 */
export async function buildDevImage(options: BuildDevImageOptions): Promise<DevImage> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
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
  const image = await buildImage(cacheDir, inputs);
  await mkdir(join(cacheDir, 'images', 'by-input'), { recursive: true });
  await writeFile(`${indexFile}.tmp`, `${image.revision}\n`);
  await rename(`${indexFile}.tmp`, indexFile);
  log.info({ revision: image.revision, ms: Date.now() - started }, 'built dev image');
  return image;
}

async function gatherInputs(cacheDir: string, options: BuildDevImageOptions): Promise<Inputs> {
  const kernel = await ensureDevKernel(cacheDir, options.runner, options.kernel ?? {});
  const busyboxPath = options.busyboxPath ?? process.env['MVM_BUSYBOX'] ?? '/bin/busybox';
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
  const [init, agent] = await Promise.all([
    readFile(INIT_PATH, 'utf8'),
    readFile(AGENT_PATH, 'utf8'),
  ]);
  return { kernel, busybox, applets, init, agent, modules };
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
  hash.update(inputs.init).update(inputs.agent);
  for (const mod of inputs.modules) hash.update(mod.name).update(mod.data);
  return hash.digest('hex');
}

async function buildImage(cacheDir: string, inputs: Inputs): Promise<DevImage> {
  const initrd = buildInitramfs(inputs);
  const kernelSha = await sha256File(inputs.kernel.vmlinux);
  const initrdSha = createHash('sha256').update(initrd).digest('hex');
  const revision = createHash('sha256')
    .update(`kernel:${kernelSha}\ninitrd:${initrdSha}\n`)
    .digest('hex');
  const existing = await readImage(cacheDir, revision);
  if (existing) return existing;
  const staging = await makeStagingDir(join(cacheDir, 'images'), revision.slice(0, 12));
  await linkOrCopy(inputs.kernel.vmlinux, join(staging, 'vmlinux'));
  await writeFile(join(staging, 'initrd.cpio.gz'), initrd);
  const manifest = {
    revision,
    builder: BUILDER_VERSION,
    kernel: { release: inputs.kernel.version, sha256: kernelSha },
    initrd: { sha256: initrdSha, bytes: initrd.length },
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
  const manifest = JSON.parse(text) as { cmdlineBase?: unknown };
  return {
    revision,
    dir,
    vmlinux: join(dir, 'vmlinux'),
    initrd: join(dir, 'initrd.cpio.gz'),
    cmdlineBase: typeof manifest.cmdlineBase === 'string' ? manifest.cmdlineBase : CMDLINE_BASE,
  };
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  // The kernel is 50+ MB; share it with the kernel cache when both are on one filesystem.
  await link(from, to).catch(() => copyFile(from, to));
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
