import type { LocalInstance, LocalStats } from '../../../contract/agent-api.ts';
import { createAgentClient } from '../../agent-client.ts';
import type { AgentClient } from '../../agent-client.ts';
import type { CommandContext } from '../../command.ts';
import type { Block } from '../../render.ts';

/** The agent on this machine, at its configured socket (MVM_AGENT_SOCKET, else `<data-dir>/agent.sock`). */
export function localAgent(ctx: CommandContext): AgentClient {
  return createAgentClient(ctx.agentConfig().socket);
}

export function localInstanceFields(instance: LocalInstance): Block {
  const { spec } = instance;
  return {
    kind: 'fields',
    fields: [
      ['instance', `${instance.tenantId}/${instance.poolId}/${instance.instanceId}`],
      ['key', instance.key],
      ['status', instance.status],
      ['role', spec.role],
      ['ip', `${spec.ip}/${spec.prefixLength}`],
      ['mac', spec.mac],
      ['tap', spec.tap],
      ['vcpus/mem', `${spec.vcpus} vCPU, ${spec.memMib} MiB`],
      ['pid', instance.pid === null ? '-' : String(instance.pid)],
      ['snapshot', instance.snapshotDir ?? '-'],
      ['failure', instance.failureReason ?? '-'],
    ],
  };
}

export function localStatsFields(stats: LocalStats): Block[] {
  const cgroup = stats.cgroup;
  const guest = stats.guest;
  return [
    localInstanceFields(stats),
    {
      kind: 'fields',
      fields: [
        ['vmm', stats.vmState ?? '-'],
        [
          'cgroup',
          cgroup
            ? `${cgroup.dir} (pid in cgroup.procs: ${cgroup.pidInCgroup ? 'yes' : 'NO'})`
            : '-',
        ],
        ['guest uptime', guest ? `${guest.uptimeS.toFixed(1)} s` : '-'],
        ['guest counter', guest ? String(guest.counter) : '-'],
        ['guest ip', guest?.ip ?? '-'],
        ['guest boot id', guest?.bootId ?? '-'],
        ['workload', guest?.workload ? workloadText(guest.workload) : '-'],
      ],
    },
  ];
}

/** `running (pid 212, 0 restarts; 8080 listening)`, or why it is not. */
function workloadText(w: NonNullable<NonNullable<LocalStats['guest']>['workload']>): string {
  const facts = [w.pid ? `pid ${w.pid}` : '', `${w.restarts} restarts`];
  if (w.last_exit) facts.push(`last exit ${w.last_exit.signal || w.last_exit.code}`);
  if (w.error) facts.push(w.error);
  const ports = w.ports.map((p) => `${p.port} ${p.listening ? 'listening' : 'not listening'}`);
  return `${w.state} (${facts.filter(Boolean).join(', ')}${ports.length ? `; ${ports.join(', ')}` : ''})`;
}
