import { Writable } from 'node:stream';
import { HostError } from '../../core/errors.ts';
import { openclawConfigText, type OpenclawConfigInput } from '../../core/openclaw-config.ts';
import { sourceOf } from '../../core/pool-source.ts';
import { ensureGatewayImage, ensureWorkerImage } from '../../drivers/openclaw/openclaw-images.ts';
import type { Toolchain } from '../../drivers/openclaw/toolchain.ts';
import { NodeProcessRunner } from '../../drivers/process/node-process-runner.ts';
import type { CommandContext } from '../command.ts';
import { follow, upload } from '../commands/pool/build.ts';
import { startSession } from '../session/start-session.ts';
import {
  ensureOpenclawSecrets,
  shipOpenclawConfig,
  STARTUPZ_PROBE,
  validateOpenclawConfig,
  waitForStartupz,
  type SecretsOutcome,
} from './openclaw-gateway.ts';

/**
 * `mvm new openclaw` with the OpenClaw profiles: build (or reuse) both images in the build
 * cache and validate openclaw.json with the pinned OpenClaw, before anything changes on the
 * coordinator; then, once the pools exist, the secrets, the config drive and a revision per
 * pool; after the instances run, /startupz inside the gateway.
 */
export interface OpenclawSetupOptions {
  config: OpenclawConfigInput;
  cacheDir: string;
  tokenFile?: string;
  providerKeyFile?: string;
  buildTimeoutSecs: number;
  readyTimeoutMs: number;
}

export interface PreparedOpenclaw {
  profileImages: { gateway: string; worker: string };
  configText: string;
  toolchain: Toolchain;
  images: Array<{ profile: string; dir: string; cached: boolean; ms: number }>;
}

export interface OpenclawSetupReport {
  secrets?: SecretsOutcome;
  /** Whether tool calls run in the tenant's workers (`--worker-sandbox`, or chosen by itself). */
  workerSandbox?: boolean;
  revisions: Record<string, string>;
  readyMs?: number;
}

export async function prepareOpenclaw(
  ctx: CommandContext,
  options: OpenclawSetupOptions,
): Promise<PreparedOpenclaw> {
  const runner = new NodeProcessRunner();
  const configText = openclawConfigText(options.config);
  const log = (line: string) => ctx.print(`images   ${line}`);
  const worker = await ensureWorkerImage(runner, options.cacheDir, log);
  log(`openclaw-worker ${worker.cached ? 'cached' : 'built'} in ${ms(worker.ms)}: ${worker.dir}`);
  const gateway = await ensureGatewayImage(runner, options.cacheDir, log);
  log(
    `openclaw-gateway ${gateway.cached ? 'cached' : 'built'} in ${ms(gateway.ms)}: ${gateway.dir}`,
  );
  await validateOpenclawConfig(runner, gateway.toolchain, configText);
  ctx.print('config   openclaw.json passed openclaw config validate');
  return {
    profileImages: {
      gateway: `oci:${gateway.dir}:${gateway.tag}`,
      worker: `oci:${worker.dir}:${worker.tag}`,
    },
    configText,
    toolchain: gateway.toolchain,
    images: [worker, gateway].map((i) => ({
      profile: i.profile,
      dir: i.dir,
      cached: i.cached,
      ms: i.ms,
    })),
  };
}

const ms = (n: number) => `${(n / 1000).toFixed(1)} s`;

async function buildRevision(ctx: CommandContext, tenant: string, pool: string, secs: number) {
  const api = ctx.client();
  const view = await api.call('getPool', { params: { tenant, pool } });
  const digest = await upload(ctx, tenant, sourceOf(view));
  const started = await api.call('startBuild', {
    params: { tenant, pool },
    body: digest === undefined ? {} : { upload: digest },
  });
  const done = await follow(api, started, () => undefined, secs);
  if (done.build.status !== 'succeeded' || done.revision === null) {
    throw new HostError(`build of '${tenant}/${pool}' failed: ${done.build.error ?? 'unknown'}`);
  }
  await api.call('updatePool', {
    params: { tenant, pool },
    body: { revision: done.revision.id },
  });
  ctx.print(`revision ${pool}: ${done.revision.id}`);
  return done.revision.id;
}

export function openclawSteps(
  ctx: CommandContext,
  name: string,
  prepared: PreparedOpenclaw,
  options: OpenclawSetupOptions,
  report: OpenclawSetupReport,
) {
  const beforeScale = async () => {
    const api = ctx.client();
    report.secrets = await ensureOpenclawSecrets(api, name, {
      customProvider: options.config.provider !== undefined,
      ...(options.tokenFile !== undefined ? { tokenFile: options.tokenFile } : {}),
      ...(options.providerKeyFile !== undefined
        ? { providerKeyFile: options.providerKeyFile }
        : {}),
    });
    ctx.print(
      `secrets  set: ${report.secrets.set.join(', ') || 'none'}; kept: ${report.secrets.kept.join(', ') || 'none'}`,
    );
    await shipOpenclawConfig(api, name, 'gateways', prepared.configText);
    ctx.print('config   openclaw.json is on the gateways pool config drive');
    for (const pool of ['gateways', 'workers']) {
      report.revisions[pool] = await buildRevision(ctx, name, pool, options.buildTimeoutSecs);
    }
  };
  const afterWait = async () => {
    const instances = await ctx
      .client()
      .call('listInstances', { query: { tenant: name, pool: 'gateways' } });
    const gateway = instances.find((i) => i.desiredStatus === 'running');
    if (!gateway) throw new HostError(`'${name}/gateways' has no running instance`);
    const ref = { tenantId: name, poolId: 'gateways', instanceId: gateway.id };
    report.readyMs = await waitForStartupz(
      () => probe(ctx, ref),
      options.readyTimeoutMs,
      (line) => ctx.print(line),
      (wait) => new Promise((resolve) => setTimeout(resolve, wait)),
    );
    ctx.print(`gateway  /startupz answered ${ms(report.readyMs)} after the instances ran`);
  };
  return { beforeScale, afterWait };
}

/** One exec of the probe in the gateway through the coordinator; its output, collected. */
async function probe(
  ctx: CommandContext,
  ref: { tenantId: string; poolId: string; instanceId: string },
): Promise<{ code: number; stdout: string }> {
  const chunks: Buffer[] = [];
  const sink = (keep: boolean) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        if (keep) chunks.push(chunk);
        done();
      },
    });
  const session = await startSession(
    ctx,
    ref,
    { kind: 'exec', argv: [...STARTUPZ_PROBE], timeoutMs: 15_000 },
    { stdout: sink(true), stderr: sink(false) },
  );
  const exit = await session.exit;
  return { code: exit.code, stdout: Buffer.concat(chunks).toString() };
}
