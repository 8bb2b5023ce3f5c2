import { vmmChoices } from '../../../agent/agent-config.ts';
import type { AgentHandle } from '../../../agent/start-agent.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { choice, id, integer, text, unicastIpv4 } from '../../values.ts';

/** Loaded only here, so other commands start without the agent's drivers. */
async function loadAgent() {
  const { startAgent } = await import('../../../agent/start-agent.ts');
  return startAgent;
}

function startupLines(agent: AgentHandle): string[] {
  const { adopted, failed, orphans } = agent.recovery;
  const removed = orphans.processes.length + orphans.cgroups.length + orphans.dirs.length;
  const link = agent.link;
  return [
    `mvm agent listening on ${agent.socket ?? agent.config.socket}`,
    agent.underlayIp === undefined
      ? 'underlay: none; tenant networks stay on this node (pass --underlay-ip to span nodes)'
      : `underlay: ${agent.underlayIp} (tenant VXLAN to other nodes)`,
    `recovery: adopted ${adopted.length}, failed ${failed.length}, orphans removed ${removed}`,
    ...(agent.metricsAddress ? [`metrics: http://${agent.metricsAddress}/metrics`] : []),
    ...(link
      ? [`watching ${link.baseUrl} as node '${link.nodeId}' (${link.mtls ? 'mTLS' : 'token'})`]
      : []),
  ];
}

export const agentServe = defineCommand({
  path: ['agent', 'serve'],
  description:
    'Run the host agent on <data-dir>/agent.sock until SIGINT or SIGTERM (VMs keep running; a restart adopts them)',
  args: {},
  options: {
    vmm: option(
      choice(vmmChoices, '<driver>'),
      'hypervisor driver: qemu or firecracker (env MVM_VMM, default qemu)',
    ),
    node: option(
      id('node'),
      "this node's id: watch the coordinator (--coordinator) and converge on its document",
    ),
    production: flag('refuse unsigned desired documents; needs --trusted-key'),
    trustedKey: option(text('<pem file>'), "the coordinator's desired-document signing key"),
    underlayIp: option(
      unicastIpv4,
      "this node's address for tenant VXLAN to other nodes (default: the one recorded at join)",
    ),
    heartbeatMs: option(
      integer(100, 3_600_000),
      'with a coordinator: send capacity, usage and instance activity this often (default 5000)',
    ),
    heartbeatCpuTolerance: option(
      text('<abs,rel%>'),
      "with a coordinator: how far an instance's CPU may drift unsent in delta heartbeats, in ‰ of a CPU or %, or exact (env MVM_HEARTBEAT_CPU_TOLERANCE, default 50,25%)",
    ),
    heartbeatRssTolerance: option(
      text('<abs,rel%>'),
      "the same for an instance's resident memory, in KiB or % (env MVM_HEARTBEAT_RSS_TOLERANCE, default 1024,5%)",
    ),
    heartbeatDiskTolerance: option(
      text('<abs,rel%>'),
      "the same for an instance's disk and snapshot sizes, in KiB or % (env MVM_HEARTBEAT_DISK_TOLERANCE, default 1024,1%)",
    ),
    vcpus: option(
      integer(1, 4096),
      "with a coordinator: vCPUs this node offers the scheduler instead of the host's count (an overcommit; memory and disk stay measured)",
    ),
    netns: option(text('<name>'), 'run tenant networking and the VMMs in this network namespace'),
    metricsListen: option(
      text('<address:port>'),
      'serve Prometheus metrics at http://<address:port>/metrics (default: only on the local socket)',
    ),
    wakeWithoutCoordinator: option(
      choice(['on', 'off'] as const, '<on|off>'),
      "with a coordinator: a wake on connect it does not answer (unreachable, 5xx, 5 s) is admitted by this node's own count of its room, and reported once it answers (env MVM_WAKE_WITHOUT_COORDINATOR, default on)",
    ),
  },
  output: 'text',
  async handler(ctx, _args, opts) {
    const config = ctx.agentConfig(opts);
    const startAgent = await loadAgent();
    const agent = await startAgent(config);
    for (const line of startupLines(agent)) ctx.print(line);
    const signal = await ctx.untilShutdown();
    ctx.print(`received ${signal}; agent stopping (VMs keep running)`);
    await agent.close();
    return { data: { socket: agent.socket }, human: [{ kind: 'text', text: 'agent stopped' }] };
  },
});
