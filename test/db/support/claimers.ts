import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../../..');
const TSX_LOADER = `file://${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}`;
const SCRIPT = join(import.meta.dirname, 'claim-loop.ts');
/** How long a claimer process may take, start-up included; tests using them wait longer. */
export const CLAIMER_TIMEOUT_MS = 240_000;

export interface ClaimerOptions {
  url: string;
  at: string;
  limit: number;
  maxRunningPerTenant?: number;
  mode: 'once' | 'drain';
}

/**
 * Runs `count` claimers at once, each a process of its own with its own connection, and
 * returns what each claimed.
 */
export async function runClaimers(
  count: number,
  options: ClaimerOptions,
): Promise<Array<Array<{ id: string; tenantId: string }>>> {
  const run = promisify(execFile);
  const args = (i: number) => [
    '--import',
    TSX_LOADER,
    SCRIPT,
    options.url,
    `w-${i}`,
    options.at,
    String(options.limit),
    options.maxRunningPerTenant === undefined ? '-' : String(options.maxRunningPerTenant),
    options.mode,
    barrier,
  ];
  const barrier = mkdtempSync(join(tmpdir(), 'mvm-claimers-'));
  try {
    const runs = Array.from({ length: count }, (_, i) =>
      // Eight tsx processes starting at once on a loaded 2-core host took over a minute.
      run(process.execPath, args(i), { timeout: CLAIMER_TIMEOUT_MS }),
    );
    const ready = Array.from({ length: count }, (_, i) => join(barrier, `ready-w-${i}`));
    while (!ready.every((file) => existsSync(file))) await sleep(10);
    writeFileSync(join(barrier, 'go'), '');
    return parse(await Promise.all(runs));
  } finally {
    rmSync(barrier, { recursive: true, force: true });
  }
}

function parse(outputs: Array<{ stdout: string }>): Array<Array<{ id: string; tenantId: string }>> {
  return outputs.map(({ stdout }) =>
    stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { id: string; tenantId: string }),
  );
}
