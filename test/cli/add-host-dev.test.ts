import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeIdFromHostname } from '../../src/agent/join/host-facts.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { DevHostResult } from '../../src/cli/onboarding/prepare-dev-host.ts';
import type { NodeView } from '../../src/contract/resources.ts';
import type { FetchLike } from '../../src/drivers/coordinator-api/api-client.ts';
import { describeEachCoordinator } from './support/in-process-coordinator.ts';
import { runIn, type CliRun } from './support/run-cli.ts';

/**
 * `mvm add host` with no arguments: a dev host on its own, in a temp data dir. Without a
 * coordinator it makes the data dir and the coordinator's keys and names the quickstart; with
 * a local coordinator (and its admin token in the data dir) it also registers the node and
 * names `mvm agent serve --node <id>`. Run twice, it changes nothing.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const statuses = (result: DevHostResult) =>
  Object.fromEntries(result.steps.map((s) => [s.name, s.status]));

async function addHost(env: Record<string, string>, fetch?: FetchLike, json = true) {
  return runIn(['add', 'host', ...(json ? ['--json'] : [])], {
    env,
    readText: readTextFile,
    defaultConfigFile: '/nonexistent/mvm-config.json',
    fetch: fetch ?? ((request) => globalThis.fetch(request)),
  });
}

/** With --json, progress lines go to stderr and stdout holds the data alone. */
function parsed(run: CliRun): DevHostResult {
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/^(ok|FAIL)\s+nft\s+/m);
  return JSON.parse(run.stdout) as DevHostResult;
}

describe('mvm add host (no coordinator here)', () => {
  it('prepares the data dir and keys, names the quickstart, and is idempotent', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mvm-devhost-'));
    dirs.push(root);
    const dataDir = join(root, 'data');
    const env = {
      MVM_DATA_DIR: dataDir,
      MVM_CACHE_DIR: join(root, 'cache'),
      // Nothing listens on port 1: no coordinator runs here.
      MVM_COORDINATOR_URL: 'http://127.0.0.1:1',
    };
    const human = await addHost(env, undefined, false);
    expect(human.code).toBe(0);
    for (const line of [/^(ok|FAIL)\s+nft\s+/m, /e2fsprogs/, /^ok\s+accelerator\s+(KVM|TCG)/m]) {
      expect(human.stdout).toMatch(line);
    }
    expect(human.stdout).toMatch(/^created\s+data dir\s+/m);
    expect(human.stdout).toMatch(/^created\s+signing key\s+/m);
    expect(human.stdout).toMatch(/^created\s+coordinator CA\s+.*sha256 [0-9A-F:]+\)$/m);
    expect(human.stdout).toMatch(/^skipped\s+node identity\s+no coordinator answers/m);
    expect(human.stdout).toMatch(/^missing\s+dev image\s+/m);
    expect(human.stdout).toContain('next:\n  mvm quickstart');
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, 'signing.key'))).mode & 0o777).toBe(0o600);
    const pub = await readFile(join(dataDir, 'signing.pub'), 'utf8');
    expect(pub).toContain('BEGIN PUBLIC KEY');
    const ca = await readFile(join(dataDir, 'ca', 'ca.crt'), 'utf8');

    const again = parsed(await addHost(env));
    expect(again).toMatchObject({
      mode: 'dev',
      node: nodeIdFromHostname(hostname()),
      dataDir,
      coordinator: { url: 'http://127.0.0.1:1', running: false },
    });
    expect(statuses(again)).toEqual({
      'data dir': 'exists',
      'signing key': 'exists',
      'coordinator CA': 'exists',
      'node identity': 'skipped',
      'dev image': 'missing',
    });
    expect(again.next[0]).toMatch(/^mvm quickstart/);
    expect(again.checks.map((c) => c.name)).toContain('accelerator');
    // The same keys: a second run never replaces them.
    expect(await readFile(join(dataDir, 'signing.pub'), 'utf8')).toBe(pub);
    expect(await readFile(join(dataDir, 'ca', 'ca.crt'), 'utf8')).toBe(ca);
  });

  it('still joins when given a join token (the fleet path is unchanged)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mvm-devhost-'));
    dirs.push(root);
    const run = await runIn(['add', 'host', '--coordinator', 'https://fleet.example:7443'], {
      env: { MVM_DATA_DIR: root },
      readText: readTextFile,
      defaultConfigFile: '/nonexistent/mvm-config.json',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pass the join token with --token');
    expect(existsSync(join(root, 'signing.key'))).toBe(false);
  });
});

await describeEachCoordinator('mvm add host next to a local coordinator', (coordinator) => {
  it('registers the node with the local coordinator and names mvm agent serve', async () => {
    const c = coordinator();
    const env = { MVM_DATA_DIR: c.dataDir, MVM_CACHE_DIR: join(c.dataDir, 'cache') };
    const first = parsed(await addHost(env, c.fetch));
    const node = nodeIdFromHostname(hostname());
    expect(first.coordinator.running).toBe(true);
    expect(statuses(first)['node identity']).toBe('registered');
    expect(first.next).toEqual([`mvm agent serve --node ${node}`]);
    const nodes = JSON.parse(
      (
        await runIn(['node', 'list', '--json'], {
          env,
          readText: readTextFile,
          defaultConfigFile: '/nonexistent/mvm-config.json',
          fetch: c.fetch,
        })
      ).stdout,
    ) as NodeView[];
    expect(nodes.map((n) => [n.id, n.status])).toEqual([[node, 'ready']]);
    expect(nodes[0]?.capacity.vcpus).toBeGreaterThan(0);

    const second = parsed(await addHost(env, c.fetch));
    expect(statuses(second)['node identity']).toBe('exists');
    expect(second.next).toEqual(first.next);
  });
});
