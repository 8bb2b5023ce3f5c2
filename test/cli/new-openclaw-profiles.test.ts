/**
 * `mvm new openclaw` with the OpenClaw profiles against a real coordinator (SQLite) with real
 * builders: both images built (or taken from the image cache, MVM_CACHE_DIR), openclaw.json
 * validated by the pinned openclaw and shipped on the gateways' config drive without any
 * secret in it, the token generated once and the provider key set as secrets, a revision per
 * pool built through the coordinator and selected; a second run keeps the token and gives the
 * same revisions (reproducible images). The worker sandbox is off with no node running worker
 * exec, and chosen by itself once every ready node's heartbeats say it does. No agent: the
 * guest side is docs/openclaw.md's.
 * Skips loudly when the npm registry is unreachable (a user's offline machine), fails in CI.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import { resolveAdminToken } from '../../src/coordinator/admin-token.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { NewOpenclawResult } from '../../src/cli/onboarding/new-openclaw.ts';
import type { OpenclawSetupReport } from '../../src/cli/onboarding/openclaw-setup.ts';
import type { PoolDetailView } from '../../src/contract/resources.ts';
import type { PoolConfigView, SecretView } from '../../src/contract/secrets.ts';
import { DEFAULT_CACHE_DIR } from '../../src/drivers/dev-image/cache-dir.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import {
  startInProcessCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';
import { runIn } from './support/run-cli.ts';

const runner = new NodeProcessRunner();
const ping = await runner
  .run('npm', ['ping'], { check: false, timeoutMs: 30_000 })
  .catch(() => undefined);
if (ping?.exitCode !== 0) {
  const where = process.env['CI'] ? 'CI requires it' : 'SKIPPING';
  console.warn(`\n!!! new openclaw (profiles): the npm registry is not reachable; ${where}\n`);
  if (process.env['CI']) throw new Error('new openclaw (profiles): npm registry unreachable in CI');
}

type Result = NewOpenclawResult & { openclaw: OpenclawSetupReport };

describe.runIf(ping?.exitCode === 0)('mvm new openclaw builds and configures the gateway', () => {
  let coordinator: InProcessCoordinator;
  const cacheDir = process.env['MVM_CACHE_DIR'] ?? DEFAULT_CACHE_DIR;
  const mvm = (line: string) =>
    runIn(line.split(' '), {
      env: { MVM_DATA_DIR: coordinator.dataDir, MVM_CACHE_DIR: cacheDir },
      readText: readTextFile,
      defaultConfigFile: join(coordinator.dataDir, 'no-config.json'),
      fetch: coordinator.fetch,
    });
  const json = async <T>(line: string): Promise<T> => {
    const run = await mvm(line);
    expect(run.code, `${line}: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  beforeAll(async () => {
    coordinator = await startInProcessCoordinator({ images: true });
  });
  afterAll(async () => {
    await coordinator?.close();
  });

  it('deploys, and a second run keeps the token and rebuilds the same revisions', async () => {
    const line =
      'new openclaw claw --provider-url http://10.240.7.1:9000/v1 --model stub-model --may-idle --workers 1 --warm-workers 0 --json';
    const first = await json<Result>(line);
    const token = first.openclaw.secrets?.generatedToken ?? '';
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(first.openclaw.secrets?.set).toEqual([
      'OPENCLAW_GATEWAY_TOKEN',
      'OPENCLAW_PROVIDER_API_KEY',
    ]);
    expect(Object.keys(first.openclaw.revisions)).toEqual(['gateways', 'workers']);

    const gateways = await json<PoolDetailView>('pool info claw/gateways --json');
    expect(gateways).toMatchObject({ role: 'gateway', critical: true, vcpus: 2, memMib: 2048 });
    expect(gateways.image).toMatch(/^oci:.*\/openclaw\/images\/[0-9a-f]{64}:openclaw-gateway$/);
    expect(gateways.revision).toBe(first.openclaw.revisions['gateways']);
    const workers = await json<PoolDetailView>('pool info claw/workers --json');
    expect(workers.image).toMatch(/:openclaw-worker$/);
    expect(workers.revision).toBe(first.openclaw.revisions['workers']);

    const secrets = await json<SecretView[]>('secrets list claw --json');
    expect(secrets.map((s) => s.name).sort()).toEqual([
      'OPENCLAW_GATEWAY_TOKEN',
      'OPENCLAW_PROVIDER_API_KEY',
    ]);
    const config = await json<PoolConfigView>('pool config get claw/gateways --json');
    const text = config.files['openclaw.json'] ?? '';
    expect(text).toContain('"baseUrl": "http://10.240.7.1:9000/v1"');
    expect(text).toContain('"every": "0m"');
    expect(text).not.toContain(token);
    // No node runs worker exec: no sandbox (tool calls would find no way to a worker).
    expect(first.openclaw.workerSandbox).toBe(false);
    expect(text).not.toContain('"backend": "mvm"');

    // Every ready node's heartbeats now say worker exec: the next run chooses the sandbox.
    const admin = (await resolveAdminToken(coordinator.dataDir)).secret;
    const api = createApiClient({
      baseUrl: 'http://coordinator',
      token: admin,
      fetch: coordinator.fetch,
    });
    const capacity = { vcpus: 8, memMib: 8192, diskGib: 100 };
    await api.call('registerNode', {
      params: { node: 'n1' },
      body: { hostname: 'n1', arch: 'x86_64', capacity },
    });
    await api.call('nodeHeartbeat', {
      params: { node: 'n1' },
      body: {
        capacity,
        usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 10_000, workerExec: true },
        instances: [],
      },
    });
    const again = await json<Result>(line);
    expect(again.openclaw.workerSandbox).toBe(true);
    const sandboxed = await json<PoolConfigView>('pool config get claw/gateways --json');
    expect(sandboxed.files['openclaw.json']).toContain('"backend": "mvm"');
    expect(again.openclaw.secrets?.generatedToken).toBeUndefined();
    expect(again.openclaw.secrets?.kept).toEqual([
      'OPENCLAW_GATEWAY_TOKEN',
      'OPENCLAW_PROVIDER_API_KEY',
    ]);
    expect(again.openclaw.revisions).toEqual(first.openclaw.revisions);

    // Refused by the operator: no sandbox although every ready node runs worker exec.
    const refused = await json<Result>(`${line} --no-worker-sandbox`);
    expect(refused.openclaw.workerSandbox).toBe(false);
    const unsandboxed = await json<PoolConfigView>('pool config get claw/gateways --json');
    expect(unsandboxed.files['openclaw.json']).not.toContain('"backend": "mvm"');
  }, 3_600_000);
});
