/**
 * CLI start-up: wall time from spawn to exit of `bin/mvm --version` and `--help` (the compiled
 * dist/, built first if stale) against a bare `node -e 0` (goal: at most 2x), with the sources
 * through tsx (what bin/mvm falls back to, and what it always ran before) for comparison.
 * Runs are interleaved so a busy machine slows every variant alike. Medians of N runs:
 *   npx tsx bench/cli-startup.ts [N]   (default 21)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { median } from './support/stats.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MVM = join(ROOT, 'bin/mvm');
const TSX = [`--import=file://${join(ROOT, 'node_modules/tsx/dist/loader.mjs')}`];
const SOURCE_MAIN = join(ROOT, 'src/cli/main.ts');
const runs = Number(process.argv[2] ?? 21);
const GOAL = 2;

const variants: ReadonlyArray<{ name: string; file: string; args: readonly string[] }> = [
  { name: 'node -e 0', file: process.execPath, args: ['-e', '0'] },
  { name: 'bin/mvm --version', file: MVM, args: ['--version'] },
  { name: 'bin/mvm --help', file: MVM, args: ['--help'] },
  {
    name: 'tsx src/cli/main.ts --version',
    file: process.execPath,
    args: [...TSX, SOURCE_MAIN, '--version'],
  },
  {
    name: 'tsx src/cli/main.ts --help',
    file: process.execPath,
    args: [...TSX, SOURCE_MAIN, '--help'],
  },
];

function timeOnce(file: string, args: readonly string[]): number {
  const started = performance.now();
  const run = spawnSync(file, args, { encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (run.status !== 0 || run.stderr !== '')
    throw new Error(`${file} ${args.join(' ')}: exit ${run.status}, stderr: ${run.stderr}`);
  return elapsed;
}

execFileSync('bash', [join(ROOT, 'scripts/build.sh'), '--if-stale'], { stdio: 'inherit' });
const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (const variant of variants) timeOnce(variant.file, variant.args); // warm the page cache
for (let run = 0; run < runs; run += 1) {
  for (const variant of variants)
    samples.get(variant.name)?.push(timeOnce(variant.file, variant.args));
}

const bare = median(samples.get('node -e 0') ?? []);
console.log(`CLI start-up, median of ${runs} interleaved runs (ratio to node -e 0)`);
for (const variant of variants) {
  const ms = median(samples.get(variant.name) ?? []);
  console.log(
    `  ${variant.name.padEnd(32)} ${ms.toFixed(0).padStart(5)} ms  ${(ms / bare).toFixed(2)}x`,
  );
}
const worst = Math.max(
  median(samples.get('bin/mvm --version') ?? []),
  median(samples.get('bin/mvm --help') ?? []),
);
console.log(
  `goal: bin/mvm at most ${GOAL}x node -e 0: ${worst / bare <= GOAL ? 'met' : 'NOT met'} (${(worst / bare).toFixed(2)}x)`,
);
