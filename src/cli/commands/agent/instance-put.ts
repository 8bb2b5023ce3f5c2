import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { roles } from '../../../core/model.ts';
import { ValidationError } from '../../../core/errors.ts';
import { arg, defineCommand, flag, option, requiredOption } from '../../command.ts';
import { choice, instancePath, integer, text } from '../../values.ts';
import { localAgent, localInstanceFields } from './local-agent.ts';

const secretsFileSchema = z.record(z.string(), z.string());

async function readSecrets(path: string | undefined): Promise<Record<string, string> | undefined> {
  if (path === undefined) return undefined;
  const parsed = secretsFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success) {
    throw new ValidationError(`${path} must hold a JSON object of name -> string value`);
  }
  return parsed.data;
}

/** Create or update (idempotent) an instance on this host's agent, without a coordinator. */
export const agentInstancePut = defineCommand({
  path: ['agent', 'instance', 'put'],
  description: 'Create or update an instance on this host (idempotent; no coordinator needed)',
  args: { path: arg(instancePath, 'the instance') },
  options: {
    ip: requiredOption(text('<ipv4>'), 'guest address'),
    mac: requiredOption(text('<mac>'), 'guest MAC address'),
    role: option(choice(roles, '<role>'), 'role (default worker)'),
    vcpus: option(integer(1, 64), 'vCPUs (default 1)'),
    memMib: option(integer(64, 262_144), 'memory in MiB (default 256)'),
    dataDiskMib: option(integer(1, 1_048_576), 'data drive size in MiB (default 64)'),
    gateway: option(text('<ipv4>'), 'default gateway of the guest'),
    prefixLength: option(integer(8, 30), 'subnet prefix length (default 24)'),
    revision: option(text('<revision>'), "image revision (default 'dev')"),
    secretsFile: option(text('<path>'), 'JSON file of secret name -> value (never echoed)'),
    withoutNetwork: flag('boot without a network interface (no tap)'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const secrets = await readSecrets(opts.secretsFile);
    const instance = await localAgent(ctx).put(args.path, {
      spec: {
        role: opts.role ?? 'worker',
        vcpus: opts.vcpus ?? 1,
        memMib: opts.memMib ?? 256,
        dataDiskMib: opts.dataDiskMib ?? 64,
        ip: opts.ip,
        prefixLength: opts.prefixLength ?? 24,
        ...(opts.gateway ? { gateway: opts.gateway } : {}),
        mac: opts.mac,
        revision: opts.revision ?? 'dev',
        network: opts.withoutNetwork !== true,
      },
      ...(secrets ? { secrets } : {}),
    });
    return { data: instance, human: [localInstanceFields(instance)] };
  },
});

export const agentInstanceList = defineCommand({
  path: ['agent', 'instance', 'list'],
  description: "List the instances this host's agent owns",
  args: {},
  options: {},
  output: 'data',
  async handler(ctx) {
    const instances = await localAgent(ctx).list();
    const rows = instances.map((i) => [
      `${i.tenantId}/${i.poolId}/${i.instanceId}`,
      i.status,
      i.spec.ip,
      i.pid === null ? '-' : String(i.pid),
    ]);
    return {
      data: instances,
      human: [
        {
          kind: 'table',
          columns: ['INSTANCE', 'STATUS', 'IP', 'PID'],
          rows,
          empty: "no instances on this host; create one with 'mvm agent instance put'",
        },
      ],
    };
  },
});
