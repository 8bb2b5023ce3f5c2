/**
 * bin/mvm picks the compiled dist/ only while nothing it was built from is newer than its
 * stamp; otherwise it runs the sources through tsx and says so. The real script runs against a
 * throw-away checkout whose "dist" and "sources" print which of them ran.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// Relative to now: adding or deleting a file stamps its directory with the real clock.
const hoursAgo = (hours: number): Date => new Date(Date.now() - hours * 3_600_000);
const BEFORE = hoursAgo(3);
const BUILT = hoursAgo(2);
const AFTER = hoursAgo(1);
const report = (which: string): string =>
  `process.stdout.write(JSON.stringify({ ran: '${which}', pid: process.pid, args: process.argv.slice(2) }));\n`;

let checkout = '';
afterEach(() => rmSync(checkout, { recursive: true, force: true }));

function write(path: string, text: string, time = BEFORE): void {
  mkdirSync(dirname(join(checkout, path)), { recursive: true });
  writeFileSync(join(checkout, path), text);
  utimesSync(join(checkout, path), time, time);
}

/** A checkout built at BUILT from sources last changed at BEFORE. */
function builtCheckout(): void {
  checkout = mkdtempSync(join(tmpdir(), 'mvm-bin-'));
  mkdirSync(join(checkout, 'bin'));
  copyFileSync(join(ROOT, 'bin/mvm'), join(checkout, 'bin/mvm'));
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
  write('src/cli/main.ts', report('source'));
  write('src/core/ids.ts', 'export {};\n');
  write('tsconfig.json', '{}\n');
  write('tsconfig.build.json', '{}\n');
  write('dist/cli/main.js', report('dist'));
  for (const dir of ['src/cli', 'src/core', 'src']) utimesSync(join(checkout, dir), BEFORE, BEFORE);
  write('dist/.build-stamp', '', BUILT);
}

interface MvmRun {
  /** What the started program reported: which one ran, as which process, with what words. */
  ran?: 'dist' | 'source';
  pid?: number;
  args?: string[];
  status: number | null;
  stderr: string;
  childPid: number;
}

function mvm(args: readonly string[] = ['--version'], via = join(checkout, 'bin/mvm')): MvmRun {
  const run = spawnSync(via, args, { encoding: 'utf8', cwd: tmpdir() });
  const out = run.stdout === '' ? {} : (JSON.parse(run.stdout) as Partial<MvmRun>);
  return { ...out, status: run.status, stderr: run.stderr, childPid: run.pid };
}

const STALE_NOTE =
  /dist\/ is missing or older than src\/; running the sources through tsx.*npm run build/;

describe('bin/mvm', () => {
  it('runs the compiled dist/ when it is newer than every source, in place (exec) and quietly', () => {
    builtCheckout();
    const run = mvm(['tenant', 'create', 'two words']);
    expect(run).toMatchObject({ ran: 'dist', args: ['tenant', 'create', 'two words'], stderr: '' });
    expect(run.pid).toBe(run.childPid);
  });

  it('resolves its checkout through a symlink, as npm links it into a bin directory', () => {
    builtCheckout();
    symlinkSync(join(checkout, 'bin/mvm'), join(checkout, 'linked-mvm'));
    expect(mvm(['--help'], join(checkout, 'linked-mvm'))).toMatchObject({ ran: 'dist', status: 0 });
  });

  it.each([
    ['a source was edited', () => utimesSync(join(checkout, 'src/core/ids.ts'), AFTER, AFTER)],
    ['a source was added', () => write('src/core/new.ts', 'export {};\n', BEFORE)],
    ['a source was deleted', () => unlinkSync(join(checkout, 'src/core/ids.ts'))],
    ['tsconfig.build.json changed', () => write('tsconfig.build.json', '{ }\n', AFTER)],
    ['there is no dist/', () => rmSync(join(checkout, 'dist'), { recursive: true })],
    ['the build never finished (no stamp)', () => unlinkSync(join(checkout, 'dist/.build-stamp'))],
  ])('runs the sources through tsx, saying so, when %s', (_why, change) => {
    builtCheckout();
    change();
    const run = mvm(['pool', 'list']);
    expect(run).toMatchObject({ ran: 'source', args: ['pool', 'list'], status: 0 });
    expect(run.stderr).toMatch(STALE_NOTE);
  });

  it('runs dist/ without any freshness check where there are no sources (an installed package)', () => {
    builtCheckout();
    rmSync(join(checkout, 'src'), { recursive: true });
    unlinkSync(join(checkout, 'dist/.build-stamp'));
    expect(mvm()).toMatchObject({ ran: 'dist', stderr: '', status: 0 });
  });

  it('refuses clearly when dist/ is stale and tsx is not installed', () => {
    builtCheckout();
    unlinkSync(join(checkout, 'node_modules'));
    utimesSync(join(checkout, 'src/core/ids.ts'), AFTER, AFTER);
    const run = mvm();
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/older than src\/ and tsx is not installed; run 'npm run build'/);
  });
});
