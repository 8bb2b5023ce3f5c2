import type { LocalAction } from '../../../contract/agent-api.ts';
import { arg, defineCommand } from '../../command.ts';
import type { CliCommand } from '../../command.ts';
import { instancePath } from '../../values.ts';
import { specFromCoordinator } from './coordinator-spec.ts';
import { localAgent, localInstanceFields } from './local-agent.ts';

/** Actions that may boot or restore a VM: they refresh the spec from the coordinator first. */
const booting: ReadonlySet<LocalAction> = new Set(['start', 'wake']);

/**
 * `mvm agent instance <verb>`: the action runs on this machine's agent and returns when it is
 * done (unlike `mvm instance <verb>`, which records a desired status at the coordinator).
 */
export function agentInstanceAction(action: LocalAction, description: string): CliCommand {
  return defineCommand({
    path: ['agent', 'instance', action],
    description,
    args: { path: arg(instancePath, 'the instance') },
    options: {},
    output: 'data',
    async handler(ctx, args) {
      const agent = localAgent(ctx);
      const body = booting.has(action) ? await specFromCoordinator(ctx, args.path) : undefined;
      if (body) await agent.put(args.path, body);
      const instance = await agent.act(args.path, action);
      const source = body ? 'spec from the coordinator' : "the agent's stored spec";
      const text = `${action}: instance '${instance.tenantId}/${instance.poolId}/${instance.instanceId}' is ${instance.status} (${source})`;
      return { data: instance, human: [{ kind: 'text', text }, localInstanceFields(instance)] };
    },
  });
}

export const agentInstanceStart = agentInstanceAction(
  'start',
  'Start an instance on this host now (cold boot; resumes a warm one, wakes a sleeping one)',
);
export const agentInstanceStop = agentInstanceAction('stop', 'Stop an instance on this host');
export const agentInstanceWarm = agentInstanceAction('warm', 'Pause an instance (RAM kept)');
export const agentInstanceSleep = agentInstanceAction(
  'sleep',
  'Snapshot an instance to disk and end its VMM (a failed sleep leaves it running)',
);
export const agentInstanceWake = agentInstanceAction('wake', 'Restore a sleeping instance');
export const agentInstanceDestroy = agentInstanceAction(
  'destroy',
  'Stop an instance and remove its drives, cgroup and record from this host',
);
