import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HostError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { CpioEntry } from './cpio-newc.ts';
import { sharedLibraries } from './shared-libs.ts';

/** Where the executor lives in a worker image; agent/jobs/guest-job-relay runs it from there. */
export const EXECUTOR_DIR = 'opt/mvm-executor';

export interface ExecutorPayloadOptions {
  runner: ProcessRunner;
  /** The Node binary to carry (default: the one running this; Node 18 or newer). */
  nodePath?: string;
}

/** The executor's sources: beside this file in a checkout, under src/ when run from dist/. */
async function executorEntry(name: string): Promise<string> {
  const candidates = [`../../executor/${name}.ts`, `../../../src/executor/${name}.ts`];
  for (const candidate of candidates) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  throw new HostError(`the executor sources (src/executor/${name}.ts) are not installed`);
}

/** The executor bundled for Node 18 in memory: main.mjs and wasm-thread.mjs. */
async function bundle(): Promise<Array<{ name: string; data: Uint8Array }>> {
  const entryPoints = await Promise.all(['main', 'wasm-thread'].map(executorEntry));
  // esbuild is a development dependency: loaded only when a worker image is built (from a
  // checkout), so an installed package without it still loads this module.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    outdir: '/out',
    outExtension: { '.js': '.mjs' },
    write: false,
    logLevel: 'warning',
  });
  return result.outputFiles.map((f) => ({ name: f.path.slice('/out/'.length), data: f.contents }));
}

/**
 * What a worker image adds for jobs (docs/jobs.md, "Executors in worker microVMs"): Node and
 * the libraries it loads (at their host paths, so its ELF interpreter finds them), and the
 * executor bundle, under /opt/mvm-executor. The guest's Node runs the modules; the microVM is
 * the security boundary, not node's wasm or wasi.
 */
export async function executorPayload(options: ExecutorPayloadOptions): Promise<CpioEntry[]> {
  const nodePath = options.nodePath ?? process.execPath;
  const libraries = await sharedLibraries(options.runner, nodePath);
  const entries: CpioEntry[] = [{ kind: 'dir', path: EXECUTOR_DIR }];
  entries.push({
    kind: 'file',
    path: `${EXECUTOR_DIR}/node`,
    data: await readFile(nodePath),
    mode: 0o755,
  });
  for (const file of await bundle()) {
    entries.push({ kind: 'file', path: `${EXECUTOR_DIR}/${file.name}`, data: file.data });
  }
  for (const library of libraries) {
    const path = library.replace(/^\/+/, '');
    entries.push({ kind: 'file', path, data: await readFile(library), mode: 0o755 });
  }
  return entries;
}
