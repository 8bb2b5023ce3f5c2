/**
 * `npm pack` gives a package that installs and runs without the sources or tsx: packed from a
 * copy of this checkout (its own dist/ is never touched), installed into a temporary prefix,
 * then the installed `mvm` must answer exactly as the CLI does in-process.
 *
 * The install skips install scripts by default, so better-sqlite3 is not compiled (about 3 min
 * on a 2-core host) and the test stays within seconds; nothing it runs opens SQLite, and every
 * compiled module is still imported. MVM_PACK_TEST_FULL=1 installs as a clean machine would,
 * compiling it, and opens a database with it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type { ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MVM_VERSION } from '../../src/coordinator/version.ts';
import { runIn } from './support/run-cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FULL = process.env['MVM_PACK_TEST_FULL'] === '1';
const PACKAGE_PARTS = ['bin', 'src', 'images', 'scripts', 'dist', 'package.json'];
const CONFIG_PARTS = ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md'];

let work = '';
let packed: { filename: string; files: Array<{ path: string }> };
let installed = '';

function run(file: string, args: readonly string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: 'pipe', ...options }).toString();
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mvm-pack-'));
  const copy = join(work, 'checkout');
  mkdirSync(copy);
  // Copied with their times, so the copy's dist/ is exactly as fresh as this checkout's.
  const parts = [...PACKAGE_PARTS, ...CONFIG_PARTS].filter((p) => existsSync(join(ROOT, p)));
  run('cp', ['-a', ...parts.map((p) => join(ROOT, p)), copy]);
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  // prepack builds dist/ in the copy when it is stale.
  const out = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy });
  [packed] = JSON.parse(out.slice(out.indexOf('['))) as [typeof packed];
  const prefix = join(work, 'prefix');
  const install = ['install', '--global', '--prefix', prefix, '--prefer-offline'];
  const quiet = ['--no-audit', '--no-fund', ...(FULL ? [] : ['--ignore-scripts'])];
  if (!FULL) console.warn('[pack] install scripts skipped (MVM_PACK_TEST_FULL=1 compiles them)');
  run('npm', [...install, ...quiet, join(work, packed.filename)], { cwd: work });
  installed = join(prefix, 'lib/node_modules/mvm');
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The installed `mvm` as an operator runs it: through the link npm put in the prefix's bin/. */
function installedMvm(args: readonly string[]): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const { status, stdout, stderr } = spawnSync(join(work, 'prefix/bin/mvm'), args, {
    cwd: work,
    encoding: 'utf8',
  });
  return { status, stdout, stderr };
}

describe('npm pack', () => {
  it('packs the compiled CLI and what it reads, and no sources', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'bin/mvm',
        'dist/cli/main.js',
        'dist/cli/command-catalog.json',
        'dist/guest/agent.sh',
        'dist/guest/agent/main.c',
        'dist/guest/agent/agent.h',
        'dist/dashboard/static/index.html',
        'dist/dashboard/static/app.mjs',
        'images/dev/initrd-init',
        'images/dev/mvm-init',
        'package.json',
      ]),
    );
    expect(paths.filter((p) => /^(src|test|bench|node_modules)\/|\.ts$/.test(p))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).not.toContain('tsx');
    expect(existsSync(join(installed, 'node_modules/tsx'))).toBe(false);
  });

  it('installs an mvm whose --version and --help answer as the CLI does', async () => {
    expect(installedMvm(['--version'])).toEqual({
      status: 0,
      stdout: `${MVM_VERSION}\n`,
      stderr: '',
    });
    for (const args of [['--help'], ['tenant', 'create', '--help'], ['completions', 'bash']]) {
      const expected = await runIn(args);
      expect(expected.code).toBe(0);
      expect(installedMvm(args), args.join(' ')).toEqual({
        status: 0,
        stdout: expected.stdout,
        stderr: '',
      });
    }
  });

  it('installs every runtime dependency the compiled code imports', () => {
    // Node looks for packages in every parent's node_modules: none above may lend one here.
    const lenders: string[] = [];
    for (let dir = dirname(work); ; dir = dirname(dir)) {
      if (existsSync(join(dir, 'node_modules'))) lenders.push(dir);
      if (dir === dirname(dir)) break;
    }
    expect(lenders).toEqual([]);
    const script = [
      "import { readdirSync } from 'node:fs';",
      'const dist = process.argv[1];',
      "const files = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js'));",
      'for (const file of files) await import(`${dist}/${file}`);',
      'process.stdout.write(String(files.length));',
    ].join('\n');
    const imported = run('node', ['--input-type=module', '-e', script, join(installed, 'dist')]);
    expect(Number(imported)).toBeGreaterThan(200);
  });

  it("serves the dashboard's pages from the installed package, nothing built at run time", () => {
    const script = [
      "const { Hono } = await import('hono');",
      'const { registerDashboard } = await import(`${process.argv[1]}/dist/dashboard/dashboard-routes.js`);',
      'const app = new Hono();',
      "registerDashboard(app, { staleAfterMs: 1 }, async () => ({ kind: 'admin' }));",
      'const paths = ["/ui", "/ui/assets/app.mjs", "/ui/assets/pages/instances.mjs", "/ui/vendor/eventsource-parser.mjs", "/ui/assets/pages/instance-terminal.mjs", "/ui/vendor/xterm.mjs", "/ui/vendor/xterm.css", "/ui/vendor/addon-fit.mjs"];',
      'const out = [];',
      'for (const p of paths) out.push(`${p} ${(await app.request(p)).status}`);',
      "process.stdout.write(out.join('\\n'));",
    ].join('\n');
    const served = run('node', ['--input-type=module', '-e', script, installed], {
      cwd: installed,
    });
    expect(served.split('\n')).toEqual([
      '/ui 200',
      '/ui/assets/app.mjs 200',
      '/ui/assets/pages/instances.mjs 200',
      '/ui/vendor/eventsource-parser.mjs 200',
      '/ui/assets/pages/instance-terminal.mjs 200',
      '/ui/vendor/xterm.mjs 200',
      '/ui/vendor/xterm.css 200',
      '/ui/vendor/addon-fit.mjs 200',
    ]);
  });

  it.runIf(FULL)('compiles better-sqlite3 on install, as on a clean machine', () => {
    const open =
      "const D = require('better-sqlite3'); new D(':memory:').exec('select 1'); console.log('ok')";
    expect(run('node', ['-e', open], { cwd: installed }).trim()).toBe('ok');
  });
});
