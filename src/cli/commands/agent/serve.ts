import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { vmmChoices } from '../../../agent/load-vmm.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { choice, id, integer, text, unicastIpv4 } from '../../values.ts';

/** Loaded only here, so other commands start without the agent's drivers. */
async function loadAgent() {
  const { serveAgent } = await import('../../../agent/main.ts');
  return serveAgent;
}

/** The underlay address recorded when this host joined, if it did and one was known. */
async function joinedUnderlayIp(dataDir: string): Promise<string | undefined> {
  const { NodeIdentityStore } = await import('../../../agent/join/node-identity.ts');
  const identity = await new NodeIdentityStore(dataDir).load().catch(() => undefined);
  return identity?.underlayIp;
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
  },
  output: 'text',
  async handler(ctx, _args, opts) {
    const { dataDir } = ctx.config();
    const serve = await loadAgent();
    const underlayIp = opts.underlayIp ?? (await joinedUnderlayIp(dataDir));
    const agent = await serve({
      dataDir,
      ...(opts.vmm ? { vmmDriver: opts.vmm } : {}),
      ...(underlayIp !== undefined ? { underlayIp } : {}),
    });
    const { adopted, failed, orphans } = agent.recovery;
    ctx.print(`mvm agent listening on ${agent.socket}`);
    ctx.print(
      underlayIp === undefined
        ? 'underlay: none; tenant networks stay on this node (pass --underlay-ip to span nodes)'
        : `underlay: ${underlayIp} (tenant VXLAN to other nodes)`,
    );
    ctx.print(
      `recovery: adopted ${adopted.length}, failed ${failed.length}, orphans removed ${orphans.processes.length + orphans.cgroups.length + orphans.dirs.length}`,
    );
    let stopLoop = async (): Promise<void> => {};
    if (opts.node || existsSync(join(dataDir, 'node', 'current'))) {
      const config = ctx.config();
      const { startCoordinatorLoop } =
        await import('../../../agent/reconcile/start-coordinator-loop.ts');
      const { NodeProcessRunner } = await import('../../../drivers/process/node-process-runner.ts');
      const { HostActivityProbe } =
        await import('../../../drivers/activity/host-activity-probe.ts');
      // A joined host (node certificate) speaks mTLS; a token is for development only.
      const token = opts.node ? config.token : undefined;
      const loop = await startCoordinatorLoop(
        {
          coordinatorUrl: config.coordinatorUrl,
          ...(token ? { token } : {}),
          ...(opts.node ? { nodeId: opts.node } : {}),
          dataDir,
          production: opts.production === true,
          ...(opts.trustedKey ? { trustedKeyFile: opts.trustedKey } : {}),
          ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
          ...(underlayIp !== undefined ? { underlayIp } : {}),
        },
        agent.runtime,
        new NodeProcessRunner({ logger: agent.deps.logger }),
        agent.deps.logger,
        agent.deps.network,
        new HostActivityProbe(agent.deps.cgroups ? { cgroups: agent.deps.cgroups } : {}),
      );
      stopLoop = loop.stop;
      ctx.print(
        `watching ${loop.baseUrl} as node '${loop.nodeId}' (${loop.mtls ? 'mTLS' : 'token'})`,
      );
    }
    const signal = await ctx.untilShutdown();
    ctx.print(`received ${signal}; agent stopping (VMs keep running)`);
    await stopLoop();
    await agent.close();
    return { data: { socket: agent.socket }, human: [{ kind: 'text', text: 'agent stopped' }] };
  },
});
