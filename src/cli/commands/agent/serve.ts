import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { vmmChoices } from '../../../agent/load-vmm.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { choice, id, text } from '../../values.ts';

/** Loaded only here, so other commands start without the agent's drivers. */
async function loadAgent() {
  const { serveAgent } = await import('../../../agent/main.ts');
  return serveAgent;
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
  },
  output: 'text',
  async handler(ctx, _args, opts) {
    const { dataDir } = ctx.config();
    const serve = await loadAgent();
    const agent = await serve({ dataDir, ...(opts.vmm ? { vmmDriver: opts.vmm } : {}) });
    const { adopted, failed, orphans } = agent.recovery;
    ctx.print(`mvm agent listening on ${agent.socket}`);
    ctx.print(
      `recovery: adopted ${adopted.length}, failed ${failed.length}, orphans removed ${orphans.processes.length + orphans.cgroups.length + orphans.dirs.length}`,
    );
    let stopLoop = async (): Promise<void> => {};
    if (opts.node || existsSync(join(dataDir, 'node', 'current'))) {
      const config = ctx.config();
      const { startCoordinatorLoop } =
        await import('../../../agent/reconcile/start-coordinator-loop.ts');
      const { NodeProcessRunner } = await import('../../../drivers/process/node-process-runner.ts');
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
        },
        agent.runtime,
        new NodeProcessRunner({ logger: agent.deps.logger }),
        agent.deps.logger,
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
