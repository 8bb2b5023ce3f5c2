import { planOpenclaw, type OpenclawOptions } from '../../../core/openclaw-plan.ts';
import { workerSandboxDefault, type SandboxChoice } from '../../../core/worker-sandbox-default.ts';
import { errorMessage } from '../../../core/errors.ts';
import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { poolLimits } from '../../../core/pool-spec.ts';
import { MAX_NET_ID } from '../../../core/subnets.ts';
import { arg, defineCommand, flag, option, repeatableOption } from '../../command.ts';
import type { CommandContext } from '../../command.ts';
import type { Block } from '../../render.ts';
import { duration, id, integer, text } from '../../values.ts';
import { OpenclawRun, type NewOpenclawResult } from '../../onboarding/new-openclaw.ts';
import { sourceFields } from '../pool/source-options.ts';
import { cacheDirOption, cacheDirOf } from '../image/image-cache.ts';
import {
  openclawSteps,
  prepareOpenclaw,
  type OpenclawSetupOptions,
  type OpenclawSetupReport,
} from '../../onboarding/openclaw-setup.ts';

const DEFAULT_WAIT_SECS = 600;

type Result = NewOpenclawResult & { openclaw?: OpenclawSetupReport };

function openclawBlocks(result: Result): Block[] {
  const report = result.openclaw;
  if (!report) return [];
  const token = report.secrets?.generatedToken;
  return [
    {
      kind: 'fields',
      title: 'openclaw gateway',
      fields: [
        ...Object.entries(report.revisions).map(([pool, id]) => [`revision ${pool}`, id] as const),
        [
          'ready',
          report.readyMs !== undefined
            ? `/startupz answered after ${(report.readyMs / 1000).toFixed(1)} s`
            : 'not waited for (pass --wait)',
        ],
        [
          'token',
          token !== undefined
            ? `${token}  (generated; shown only now, kept as the secret OPENCLAW_GATEWAY_TOKEN)`
            : 'the secret OPENCLAW_GATEWAY_TOKEN (kept or from --token-file)',
        ],
      ],
    },
  ];
}

function summary(result: Result): Block[] {
  const t = result.tenant;
  return [
    {
      kind: 'fields',
      title: `openclaw deployment '${t.id}' (tenant ${t.status})`,
      fields: [
        ['network', `net ${t.netId}, ${t.subnet}, gateway ${t.gateway}, bridge ${t.bridge}`],
        [
          'quotas',
          `${t.quotas.maxVcpus} vCPU, ${t.quotas.maxMemMib} MiB, ${t.quotas.maxRunning} running`,
        ],
        ...result.pools.map(
          (p) =>
            [
              `pool ${p.id}`,
              `${p.role}, ${p.vcpus} vCPU, ${p.memMib} MiB, ${p.dataDiskMib} MiB disk; wants ${p.counts.running} running, ${p.counts.warm} warm (${p.status})`,
            ] as const,
        ),
        ['image', result.image.note],
        ['instances', String(result.instances.length)],
      ],
    },
    ...openclawBlocks(result),
    { kind: 'text', text: `next: ${result.next}` },
  ];
}

export const newOpenclaw = defineCommand({
  path: ['new', 'openclaw'],
  description:
    'Create an OpenClaw deployment in one go: a tenant, a gateway pool (1 running, critical, 2048 MiB) running the pinned OpenClaw gateway and a worker pool (2 running, 1 warm) as its sandbox; images built from npm and cached, openclaw.json validated and put on the config drive, the gateway token a secret. --dev-image makes only the pools. Re-running it finishes or re-applies it',
  args: { name: arg(id('tenant'), 'the deployment, and its tenant id') },
  options: {
    netId: option(
      integer(0, MAX_NET_ID),
      'network id (bridge br-tenant-<id>); default: the next free one',
    ),
    subnet: option(text('<cidr>'), 'the tenant /24; default: derived from the net id'),
    flake: option(
      text('<ref>'),
      'flake holding the images (profile = the role); default: the dev image',
    ),
    image: option(text('<ref>'), 'an OCI image (oci:DIR[:TAG], docker://…) instead of a flake'),
    cpus: option(
      integer(poolLimits.vcpus.min, poolLimits.vcpus.max),
      'vCPUs per instance (default 2)',
    ),
    mem: option(
      integer(poolLimits.memMib.min, poolLimits.memMib.max),
      'memory per instance in MiB (default: gateways 2048, workers 1024)',
    ),
    gatewayMem: option(
      integer(poolLimits.memMib.min, poolLimits.memMib.max),
      "the gateways' memory in MiB (over --mem)",
    ),
    devImage: flag('only the pools, on the dev image (no OpenClaw images, config or secrets)'),
    providerUrl: option(
      text('<url>'),
      'a custom OpenAI-compatible provider (its key: the secret OPENCLAW_PROVIDER_API_KEY)',
    ),
    model: option(
      text('<id>'),
      "the model: with --provider-url the provider's model id (default 'default'), else <provider>/<model>",
    ),
    providerKeyFile: option(text('<file>'), "the custom provider's API key, read from a file"),
    tokenFile: option(
      text('<file>'),
      'the gateway token, read from a file (default: kept, or generated once)',
    ),
    mayIdle: flag(
      'the tenant may sleep (webhook-only or no channels): the gateway heartbeat is turned off',
    ),
    workerSandbox: flag(
      "tool execution in the tenant's worker microVMs (the image's sandbox plugin `mvm`, one worker per session); nodes need MVM_WORKER_EXEC=on. Default: on when every ready node reports worker exec; --no-worker-sandbox refuses it (the gateway runs tools itself)",
      true,
    ),
    origin: repeatableOption(
      text('<scheme://host[:port]>'),
      'a browser origin allowed to open the Control UI',
    ),
    cacheDir: cacheDirOption,
    dataDisk: option(
      integer(0, poolLimits.dataDiskMib.max),
      "the workers' data disk in MiB (default 2048)",
    ),
    hostPort: option(
      integer(1, 65_535),
      "the host port each node forwards to the gateway's 18789 (default 18789; one pool per host port in the fleet)",
    ),
    workers: option(integer(0, 64), 'workers to keep running (default 2)'),
    warmWorkers: option(integer(0, 64), 'workers to keep warm (default 1)'),
    wait: flag('wait until every instance reaches its desired status (needs a serving agent)'),
    waitFor: option(duration, `with --wait: how long at most (default ${DEFAULT_WAIT_SECS / 60}m)`),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const source = {
      ...(opts.flake !== undefined ? { flake: opts.flake } : {}),
      ...(opts.image !== undefined ? { image: opts.image } : {}),
    };
    const sizes: OpenclawOptions = {
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.mem !== undefined ? { memMib: opts.mem } : {}),
      ...(opts.gatewayMem !== undefined ? { gatewayMemMib: opts.gatewayMem } : {}),
      ...(opts.dataDisk !== undefined ? { workerDiskMib: opts.dataDisk } : {}),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.warmWorkers !== undefined ? { warmWorkers: opts.warmWorkers } : {}),
      ...(opts.hostPort !== undefined ? { hostPort: opts.hostPort } : {}),
    };
    const wait = opts.wait === true || opts.waitFor !== undefined;
    const waitMs = (opts.waitFor ?? DEFAULT_WAIT_SECS) * 1000;
    const profiles = opts.devImage !== true && Object.keys(source).length === 0;
    // Everything that can fail here fails before the coordinator changes.
    planOpenclaw({ ...sizes, ...sourceFields(source) });
    // --worker-sandbox / --no-worker-sandbox decide; neither: chosen from the nodes.
    const sandbox =
      profiles && opts.workerSandbox === undefined ? await chooseSandbox(ctx) : undefined;
    const workerSandbox = opts.workerSandbox === true || sandbox?.on === true;
    const setup = profiles ? setupOptions(ctx, { ...opts, workerSandbox }, waitMs) : undefined;
    const prepared = setup ? await prepareOpenclaw(ctx, setup) : undefined;
    const plan = planOpenclaw({
      ...sizes,
      ...(prepared ? { profileImages: prepared.profileImages } : sourceFields(source)),
    });
    const report: OpenclawSetupReport = {
      revisions: {},
      ...(profiles ? { workerSandbox } : {}),
    };
    const steps = prepared && setup ? openclawSteps(ctx, args.name, prepared, setup, report) : {};
    const result: Result = await new OpenclawRun({
      name: args.name,
      ...(opts.netId !== undefined ? { netId: opts.netId } : {}),
      ...(opts.subnet !== undefined ? { subnet: opts.subnet } : {}),
      plan,
      ...(wait ? { waitMs } : {}),
      api: ctx.client(),
      print: (line) => ctx.print(line),
      ...steps,
      ...(prepared
        ? { imageNote: 'the OpenClaw profiles (openclaw-gateway, openclaw-worker), built here' }
        : {}),
    }).run();
    if (prepared) result.openclaw = report;
    return { data: result, human: summary(result) };
  },
});

/** Without `--worker-sandbox`: on by itself when every ready node runs worker exec. */
async function chooseSandbox(ctx: CommandContext): Promise<SandboxChoice> {
  const choice = await listAll(ctx.client(), 'listNodes', {}).then(
    (nodes) => workerSandboxDefault(nodes),
    (error: unknown) => ({
      on: false,
      why: `the nodes could not be listed: ${errorMessage(error)}`,
    }),
  );
  ctx.print(`sandbox  ${choice.on ? "tool calls in the tenant's workers" : 'none'}: ${choice.why}`);
  return choice;
}

function setupOptions(
  ctx: CommandContext,
  opts: {
    providerUrl?: string | undefined;
    model?: string | undefined;
    providerKeyFile?: string | undefined;
    tokenFile?: string | undefined;
    mayIdle?: boolean | undefined;
    workerSandbox?: boolean | undefined;
    origin?: string[] | undefined;
    cacheDir?: string | undefined;
  },
  waitMs: number,
): OpenclawSetupOptions {
  const provider =
    opts.providerUrl !== undefined
      ? { url: opts.providerUrl, model: opts.model ?? 'default' }
      : undefined;
  return {
    config: {
      ...(provider ? { provider } : opts.model !== undefined ? { model: opts.model } : {}),
      sleeps: opts.mayIdle === true,
      allowedOrigins: opts.origin ?? [],
      ...(opts.workerSandbox === true ? { workerSandbox: true } : {}),
    },
    cacheDir: cacheDirOf(ctx, opts.cacheDir),
    ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}),
    ...(opts.providerKeyFile !== undefined ? { providerKeyFile: opts.providerKeyFile } : {}),
    buildTimeoutSecs: 3600,
    readyTimeoutMs: waitMs,
  };
}
