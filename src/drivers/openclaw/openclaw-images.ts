import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  COREUTILS_PACKAGE,
  etcFiles,
  GATEWAY_LINKS,
  GATEWAY_PROFILE,
  gatewayKeyText,
  LAUNCHER,
  WORKER_LINKS,
  WORKER_PROFILE,
  workerKeyText,
  type OpenclawProfile,
} from '../../core/openclaw-profiles.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { ImageTree } from './image-tree.ts';
import { sha256File } from './npm-pins.ts';
import { layoutDigest, writeOciLayout, type LayerEntry } from './oci-writer.ts';
import { sandboxPluginFiles } from './sandbox-plugin-files.ts';
import { ensureToolchain, GATEWAY_SOURCES, type Toolchain } from './toolchain.ts';

/**
 * The OpenClaw profiles' images as OCI layouts in the build cache
 * (`<cacheDir>/openclaw/images/<key>/`, tag = the profile), each named by the sha256 of its
 * inputs: a second build with the same inputs reuses the layout and writes nothing, and
 * `mvm pool build` of it gives the same revision. The layouts are ordinary OCI images, so the
 * coordinator imports them like any other and nodes fetch them like any revision.
 */
export interface BuiltOpenclawImage {
  profile: OpenclawProfile['name'];
  /** The layout directory; the pool source is `oci:<dir>:<tag>`. */
  dir: string;
  tag: string;
  key: string;
  manifestDigest: string;
  cached: boolean;
  ms: number;
}

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** NSS and resolver libraries getaddrinfo loads at run time (ldd never names them). */
const NSS_LIBS = ['libnss_files.so.2', 'libnss_dns.so.2', 'libresolv.so.2'];
const LIB_DIR = '/lib/x86_64-linux-gnu';
/** The platform's native add-ons OpenClaw loads, whose libraries the image needs. */
const NATIVE_ADDONS = /(?:linux-x64|linux_x64|x64-gnu)[^/]*\/.*\.(?:node|so)$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function commonFiles(tree: ImageTree, profile: OpenclawProfile) {
  for (const [path, text] of Object.entries(etcFiles(profile))) tree.data(path, text);
  await tree.file(CA_BUNDLE, CA_BUNDLE).catch(() => undefined);
  for (const lib of NSS_LIBS) await tree.file(join(LIB_DIR, lib), join(LIB_DIR, lib));
  for (const dir of ['data', 'run', 'tmp', 'proc', 'sys', 'dev', 'mvm', 'etc/mvm-config']) {
    tree.dir(dir);
  }
  for (const program of profile.hostPrograms) await tree.program(program);
}

/** The key over host files: each one's image path, mode and content hash (not the toolchain's). */
async function hostFilesSha256(entries: readonly LayerEntry[], skipUnder: string) {
  const parts: string[] = [];
  for (const e of entries) {
    if (e.kind === 'file' && !e.source.startsWith(skipUnder)) {
      parts.push(`${e.path} ${e.mode.toString(8)} ${await sha256File(e.source)}`);
    } else if (e.kind === 'data')
      parts.push(`${e.path} ${e.mode.toString(8)} ${sha256(e.data.toString('latin1'))}`);
    else if (e.kind === 'symlink') parts.push(`${e.path} -> ${e.target}`);
  }
  return sha256(parts.join('\n'));
}

async function nativeAddons(dir: string, found: string[] = [], base = dir): Promise<string[]> {
  for (const name of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const path = join(dir, name.name);
    if (name.isDirectory()) await nativeAddons(path, found, base);
    else if (
      name.isFile() &&
      NATIVE_ADDONS.test(path.slice(base.length)) &&
      !path.includes('musl')
    ) {
      found.push(path);
    }
  }
  return found;
}

async function gatewayTree(runner: ProcessRunner, toolchain: Toolchain): Promise<ImageTree> {
  const tree = new ImageTree(runner);
  await commonFiles(tree, GATEWAY_PROFILE);
  await tree.file('/opt/node/bin/node', toolchain.node);
  await tree.libraries(toolchain.node);
  await tree.file('/opt/node/LICENSE', join(toolchain.dir, 'node', 'LICENSE'));
  await tree.tree('/opt/openclaw', toolchain.appDir);
  for (const addon of await nativeAddons(join(toolchain.appDir, 'node_modules'))) {
    await tree.libraries(addon);
  }
  tree.data(LAUNCHER, await readFile(join(GATEWAY_SOURCES, 'start.mjs')), 0o755);
  // The sandbox backend `mvm`: tool commands in the tenant's workers (docs/openclaw.md).
  for (const file of await sandboxPluginFiles()) tree.data(file.path, file.data, 0o644);
  for (const [path, target] of GATEWAY_LINKS) tree.symlink(path, target);
  return tree;
}

/** Program names of a `dpkg -L` listing: files directly in /bin or /usr/bin. */
export function coreutilsPrograms(listing: string): string[] {
  const names = new Set<string>();
  for (const line of listing.split('\n')) {
    const match = /^\/(?:usr\/)?bin\/([^/]+)$/.exec(line.trim());
    if (match?.[1]) names.add(match[1]);
  }
  return [...names].sort();
}

async function workerTree(runner: ProcessRunner): Promise<ImageTree> {
  const tree = new ImageTree(runner);
  await commonFiles(tree, WORKER_PROFILE);
  const listed = await runner.run('dpkg', ['-L', COREUTILS_PACKAGE]);
  // Debian lists them under /bin or /usr/bin (merged /usr); the image keeps them in /usr/bin.
  for (const name of coreutilsPrograms(listed.stdout)) {
    const path = `/usr/bin/${name}`;
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile()) await tree.program(path);
  }
  for (const dir of WORKER_PROFILE.hostTrees) {
    await tree.tree(dir, dir, (name) =>
      ['test', 'idlelib', 'tkinter', 'turtledemo', '__pycache__'].includes(name),
    );
    await tree.librariesUnder(join(dir, 'lib-dynload'), /\.so$/);
  }
  for (const [path, target] of WORKER_LINKS) tree.symlink(path, target);
  return tree;
}

async function ensureLayout(
  cacheDir: string,
  profile: OpenclawProfile,
  keyText: string,
  entries: readonly LayerEntry[],
  log: (line: string) => void,
): Promise<BuiltOpenclawImage> {
  const started = Date.now();
  const key = sha256(keyText);
  const dir = join(cacheDir, 'openclaw', 'images', key);
  const tag = profile.name;
  const existing = await layoutDigest(dir);
  if (existing) {
    return {
      profile: profile.name,
      dir,
      tag,
      key,
      manifestDigest: existing,
      cached: true,
      ms: Date.now() - started,
    };
  }
  log(`${profile.name}: writing the OCI layout (${entries.length} entries)`);
  const written = await writeOciLayout(dir, tag, entries, profile.config);
  return {
    profile: profile.name,
    dir,
    tag,
    key,
    manifestDigest: written.manifestDigest,
    cached: false,
    ms: Date.now() - started,
  };
}

export async function ensureGatewayImage(
  runner: ProcessRunner,
  cacheDir: string,
  log: (line: string) => void = () => undefined,
): Promise<BuiltOpenclawImage & { toolchain: Toolchain }> {
  const started = Date.now();
  const toolchain = await ensureToolchain(runner, cacheDir, log);
  const tree = await gatewayTree(runner, toolchain);
  const entries = tree.sorted();
  const keyText = gatewayKeyText({
    node: toolchain.nodePin,
    openclaw: toolchain.openclawPin,
    lockfileSha256: toolchain.lockfileSha256,
    toolchainKey: basename(toolchain.dir),
    launcherSha256: await sha256File(join(GATEWAY_SOURCES, 'start.mjs')),
    hostFilesSha256: await hostFilesSha256(entries, toolchain.dir),
  });
  const built = await ensureLayout(cacheDir, GATEWAY_PROFILE, keyText, entries, log);
  return { ...built, ms: Date.now() - started, toolchain };
}

export async function ensureWorkerImage(
  runner: ProcessRunner,
  cacheDir: string,
  log: (line: string) => void = () => undefined,
): Promise<BuiltOpenclawImage> {
  const started = Date.now();
  const entries = (await workerTree(runner)).sorted();
  const keyText = workerKeyText({ hostFilesSha256: await hostFilesSha256(entries, '\0') });
  const built = await ensureLayout(cacheDir, WORKER_PROFILE, keyText, entries, log);
  return { ...built, ms: Date.now() - started };
}
