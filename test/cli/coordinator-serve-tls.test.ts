import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createHttpsFetch } from '../../src/agent/join/https-fetch.ts';
import { readTextFile } from '../../src/cli/config.ts';
import { runCli } from '../../src/cli/main.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';

let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('serves HTTPS from its own CA with --production, and keeps the certificate across restarts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-serve-tls-'));
  dataDir = dir;
  const serveOnce = async () => {
    let stdout = '';
    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const serving = runCli(
      [
        'coordinator',
        'serve',
        '--production',
        '--tls-names',
        'coord.example',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        dir,
      ],
      {
        stdout: { write: (chunk: string) => (stdout += chunk) },
        stderr: { write: () => true },
        env: {},
        readText: () => undefined,
        untilShutdown: () => stopped,
      },
    );
    const url = await waitUntil(() => /listening on (https:\/\/\S+)/.exec(stdout)?.[1], {
      clock: systemClock,
      timeoutMs: 10_000,
      what: 'the coordinator to listen',
    });
    const caPem = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');
    const health = await createHttpsFetch(() => ({ caPem }))(new Request(`${url}/v1/health`));
    expect(health.status).toBe(200);
    stop('SIGTERM');
    expect(await serving).toBe(0);
    return readFile(join(dir, 'tls', 'server.crt'), 'utf8');
  };
  const first = await serveOnce();
  expect((await stat(join(dir, 'ca', 'ca.key'))).mode & 0o777).toBe(0o600);
  expect((await stat(join(dir, 'tls', 'server.key'))).mode & 0o777).toBe(0o600);
  expect(await serveOnce()).toBe(first);
});

it('the CLI talks to an https coordinator with --ca-file, or its own CA from the data dir, and says what to do without one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-cli-tls-'));
  dataDir = dir;
  let stdout = '';
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const serving = runCli(
    ['coordinator', 'serve', '--production', '--listen', '127.0.0.1:0', '--data-dir', dir],
    {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: () => true },
      env: {},
      readText: () => undefined,
      untilShutdown: () => stopped,
    },
  );
  try {
    const url = await waitUntil(() => /listening on (https:\/\/\S+)/.exec(stdout)?.[1], {
      clock: systemClock,
      timeoutMs: 10_000,
      what: 'the coordinator to listen',
    });
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    const cli = async (args: string[], env: Record<string, string> = {}) => {
      const out = { text: '' };
      const err = { text: '' };
      const code = await runCli(args, {
        stdout: { write: (chunk: string) => (out.text += chunk) },
        stderr: { write: (chunk: string) => (err.text += chunk) },
        env,
        readText: readTextFile,
      });
      return { code, stdout: out.text, stderr: err.text };
    };
    const common = ['--coordinator', url, '--token', token];
    const named = await cli([
      'tenant',
      'list',
      '--json',
      ...common,
      '--ca-file',
      join(dir, 'ca', 'ca.crt'),
    ]);
    expect(named).toMatchObject({ code: 0 });
    expect(JSON.parse(named.stdout)).toEqual([]);
    const fromDataDir = await cli(['tenant', 'list', '--json', ...common, '--data-dir', dir]);
    expect(fromDataDir.code).toBe(0);
    const fromEnv = await cli(['tenant', 'list', ...common, '--data-dir', join(dir, 'none')], {
      MVM_CA_FILE: join(dir, 'ca', 'ca.crt'),
    });
    expect(fromEnv.code).toBe(0);
    const untrusted = await cli(['tenant', 'list', ...common, '--data-dir', join(dir, 'none')]);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/--ca-file/);
    const missing = await cli(['tenant', 'list', ...common, '--ca-file', join(dir, 'nope.crt')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.crt' \(from flag --ca-file\) cannot be read/);
  } finally {
    stop('SIGTERM');
    await serving;
  }
});
