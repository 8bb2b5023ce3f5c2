import { planOpenclaw } from '../../../core/openclaw-plan.ts';
import { poolLimits } from '../../../core/pool-spec.ts';
import { MAX_NET_ID } from '../../../core/subnets.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import type { Block } from '../../render.ts';
import { duration, id, integer, text } from '../../values.ts';
import { OpenclawRun, type NewOpenclawResult } from '../../onboarding/new-openclaw.ts';
import { sourceFields } from '../pool/source-options.ts';

const DEFAULT_WAIT_SECS = 600;

function summary(result: NewOpenclawResult): Block[] {
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
    { kind: 'text', text: `next: ${result.next}` },
  ];
}

export const newOpenclaw = defineCommand({
  path: ['new', 'openclaw'],
  description:
    'Create an OpenClaw deployment in one go: a tenant, a gateway pool (1 running) and a worker pool (2 running, 1 warm); re-running it finishes or re-applies it',
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
      'memory per instance in MiB (default 1024)',
    ),
    dataDisk: option(
      integer(0, poolLimits.dataDiskMib.max),
      "the workers' data disk in MiB (default 2048)",
    ),
    workers: option(integer(0, 64), 'workers to keep running (default 2)'),
    warmWorkers: option(integer(0, 64), 'workers to keep warm (default 1)'),
    wait: flag('wait until every instance reaches its desired status (needs a serving agent)'),
    waitFor: option(duration, `with --wait: how long at most (default ${DEFAULT_WAIT_SECS / 60}m)`),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const plan = planOpenclaw({
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.mem !== undefined ? { memMib: opts.mem } : {}),
      ...(opts.dataDisk !== undefined ? { workerDiskMib: opts.dataDisk } : {}),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.warmWorkers !== undefined ? { warmWorkers: opts.warmWorkers } : {}),
      ...sourceFields({
        ...(opts.flake !== undefined ? { flake: opts.flake } : {}),
        ...(opts.image !== undefined ? { image: opts.image } : {}),
      }),
    });
    const wait = opts.wait === true || opts.waitFor !== undefined;
    const result = await new OpenclawRun({
      name: args.name,
      ...(opts.netId !== undefined ? { netId: opts.netId } : {}),
      ...(opts.subnet !== undefined ? { subnet: opts.subnet } : {}),
      plan,
      ...(wait ? { waitMs: (opts.waitFor ?? DEFAULT_WAIT_SECS) * 1000 } : {}),
      api: ctx.client(),
      print: (line) => ctx.print(line),
    }).run();
    return { data: result, human: summary(result) };
  },
});
