import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createHttpsFetch } from '../../src/agent/join/https-fetch.ts';
import { runCli } from '../../src/cli/main.ts';
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
