import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import { runCli } from '../../src/cli/main.ts';
import { runIn } from './support/run-cli.ts';

let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** `coordinator serve` on a free loopback port over `dataDir`, with `more` flags. */
const serveArgs = (dataDir: string, ...more: string[]) => [
  'coordinator',
  'serve',
  '--listen',
  '127.0.0.1:0',
  '--data-dir',
  dataDir,
  ...more,
];

/** Polls the captured output until `pattern` appears (the server prints its URL once ready). */
async function waitFor(
  read: () => string,
  pattern: RegExp,
  deadlineMs = 10_000,
): Promise<RegExpExecArray> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    if (Date.now() > until)
      throw new Error(`no ${pattern} in output within ${deadlineMs}ms: ${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('mvm coordinator serve', () => {
  it('listens, serves the CLI over real HTTP with the admin token it wrote, and stops on a signal', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mvm-serve-'));
    let stdout = '';
    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const serving = runCli(
      ['coordinator', 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
      {
        stdout: { write: (chunk: string) => (stdout += chunk) },
        stderr: { write: () => true },
        env: {},
        readText: () => undefined,
        untilShutdown: () => stopped,
      },
    );
    const [, url = ''] = await waitFor(() => stdout, /listening on (http:\/\/\S+)/);
    expect(stdout).toContain(`admin token: ${join(dataDir, 'admin.token')}`);
    expect((await stat(join(dataDir, 'admin.token'))).mode & 0o777).toBe(0o600);

    const env = { MVM_COORDINATOR_URL: url, MVM_DATA_DIR: dataDir };
    const created = await runIn(['tenant', 'create', 'over-http', '--json'], {
      env,
      readText: readTextFile,
      fetch: fetch,
    });
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'over-http', netId: 0 });

    stop('SIGTERM');
    expect(await serving).toBe(0);
    expect(stdout).toContain('received SIGTERM; shutting down');
    const after = await runIn(['tenant', 'list'], { env, readText: readTextFile, fetch: fetch });
    expect(after.code).toBe(7);
    expect(after.stderr).toContain(`cannot reach the coordinator at ${url}`);
  });

  it('refuses a bad listen address before starting anything', async () => {
    const run = await runIn([
      'coordinator',
      'serve',
      '--listen',
      'nowhere',
      '--cluster-cidr',
      '10.0.0.0/30',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("coordinator.listen 'nowhere' (from flag --listen)");
    expect(run.stderr).toContain(
      "coordinator.clusterCidr '10.0.0.0/30' (from flag --cluster-cidr)",
    );
  });

  it('refuses a wait before moving a raise outside 1 minute to 7 days, starting nothing', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mvm-serve-'));
    const run = await runIn(serveArgs(dataDir, '--move-waiting-after', '10s'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('between 60 s and 7 days');
    await expect(stat(join(dataDir, 'admin.token'))).rejects.toThrow();
  });

  it('refuses a store URL it cannot use before making the data dir', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'mvm-serve-'));
    dataDir = parent;
    const wanted = join(parent, 'data');
    const run = await runIn(serveArgs(wanted, '--database', 'mysql://db.example/mvm'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("has the scheme 'mysql'");
    await expect(stat(wanted)).rejects.toThrow();
  });
});
