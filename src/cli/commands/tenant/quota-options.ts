import type { z } from 'zod';
import type { partialQuotasSchema } from '../../../contract/common.ts';
import { option } from '../../command.ts';
import { MAX_RUNNING_JOBS } from '../../../contract/requests.ts';
import { choice, integer, type ValueSpec } from '../../values.ts';

/** `--egress on|off`, shared by `tenant create` and `tenant update`. */
export const egressOption = option(
  choice(['on', 'off'] as const, '<on|off>'),
  "egress NAT: whether the tenant's guests may reach the outside world through their node (default off)",
);

export function egressFrom(value: 'on' | 'off' | undefined): { egress?: boolean } {
  return value === undefined ? {} : { egress: value === 'on' };
}

/** The quota flags shared by `tenant create` and `tenant update`. */
export const quotaOptions = {
  maxVcpus: option(integer(), 'most vCPUs the tenant may have running or warm'),
  maxMem: option(integer(), 'most memory in MiB the tenant may have running or warm'),
  maxRunning: option(integer(), 'most running instances'),
  maxWarm: option(integer(), 'most warm (paused) instances'),
  maxPools: option(integer(), 'most pools'),
  maxInstancesPerPool: option(integer(), 'most instances in one pool'),
  maxDisk: option(integer(), 'most data disk in GiB across all instances'),
};

type QuotaFlagValues = { [K in keyof typeof quotaOptions]?: number | undefined };

/** Only the quotas that were given, so the coordinator keeps its defaults for the rest. */
export function quotasFrom(opts: QuotaFlagValues): z.input<typeof partialQuotasSchema> {
  const quotas = {
    maxVcpus: opts.maxVcpus,
    maxMemMib: opts.maxMem,
    maxRunning: opts.maxRunning,
    maxWarm: opts.maxWarm,
    maxPools: opts.maxPools,
    maxInstancesPerPool: opts.maxInstancesPerPool,
    maxDiskGib: opts.maxDisk,
  };
  return Object.fromEntries(Object.entries(quotas).filter(([, v]) => v !== undefined));
}

/** A running-jobs limit, or `none` for no limit of the tenant's own. */
const jobLimit: ValueSpec<number | null> = {
  placeholder: '<n|none>',
  parse: (raw, label) => (raw === 'none' ? null : integer(0, MAX_RUNNING_JOBS).parse(raw, label)),
};

/** `--max-running-jobs N|none`, shared by `tenant create` and `tenant update`. */
export const maxRunningJobsOption = option(
  jobLimit,
  'most jobs the tenant may have running at once, enforced at claim (none: no limit)',
);

export function maxRunningJobsFrom(value: number | null | undefined): {
  maxRunningJobs?: number | null;
} {
  return value === undefined ? {} : { maxRunningJobs: value };
}
