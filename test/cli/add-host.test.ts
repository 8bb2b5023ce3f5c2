import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { runIn } from './support/run-cli.ts';

const ADMIN = 'ed26ee2f48562aaf64dd6549e50dd2e14a7b1a1fa97590e91ade18a6997d172f';
let coordinator: RunningCoordinator | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await coordinator?.close();
  coordinator = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-add-host-'));
  dirs.push(dir);
  return dir;
}

/** A dev (plain HTTP) coordinator; the CLI reaches it with the real global fetch. */
async function devCoordinator(): Promise<RunningCoordinator> {
  const dataDir = await tempDir();
  return serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl: join(dataDir, 'c.sqlite'),
      clusterCidr: '10.240.0.0/12',
      adminToken: ADMIN,
      dataDir,
    },
    { logger: pino({ level: 'silent' }) },
  );
}

const cli = (argv: string[]) => runIn(argv, { fetch: (request) => fetch(request) });

it('issues a join token, then joins a dev host and names the next step', async () => {
  coordinator = await devCoordinator();
  const url = coordinator.url;
  const issued = await cli([
    'node',
    'join-token',
    '--node',
    'node-1',
    '--ttl',
    '15m',
    '--json',
    '--coordinator',
    url,
    '--token',
    ADMIN,
  ]);
  expect(issued.code).toBe(0);
  const token = (JSON.parse(issued.stdout) as { token: string }).token;
  const agentDir = await tempDir();
  const joined = await cli([
    'add',
    'host',
    '--coordinator',
    url,
    '--token',
    token,
    '--node-id',
    'node-1',
    '--data-dir',
    agentDir,
  ]);
  expect(joined.stderr).toBe('');
  expect(joined.code).toBe(0);
  expect(joined.stdout).toMatch(/\/dev\/kvm/);
  expect(joined.stdout).toMatch(/hypervisor/);
  expect(joined.stdout).toContain('mvm agent serve');
  expect(joined.stdout).not.toContain(token);
  // The token is spent.
  const again = await cli([
    'add',
    'host',
    '--coordinator',
    url,
    '--token',
    token,
    '--node-id',
    'node-1',
    '--data-dir',
    agentDir,
  ]);
  expect(again.code).not.toBe(0);
  expect(again.stderr).toMatch(/join token refused/);
  expect(again.stderr).not.toContain(token);
});

it('refuses a production join over plain HTTP without a known CA, before sending the token', async () => {
  coordinator = await devCoordinator();
  const url = coordinator.url;
  const issued = await cli([
    'node',
    'join-token',
    '--json',
    '--coordinator',
    url,
    '--token',
    ADMIN,
  ]);
  const token = (JSON.parse(issued.stdout) as { token: string }).token;
  const refused = await cli([
    'add',
    'host',
    '--production',
    '--coordinator',
    url,
    '--token',
    token,
    '--data-dir',
    await tempDir(),
  ]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/production mode: .*https/);
  const ok = await cli([
    'add',
    'host',
    '--coordinator',
    url,
    '--token',
    token,
    '--node-id',
    'node-2',
    '--data-dir',
    await tempDir(),
  ]);
  expect(ok.code).toBe(0);
});

it('refuses a malformed --ttl with the accepted form', async () => {
  const run = await cli(['node', 'join-token', '--ttl', '10 minutes']);
  expect(run.code).not.toBe(0);
  expect(run.stderr).toMatch(/like 1h/);
});
