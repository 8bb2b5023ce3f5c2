import { vmmChoices } from '../../../agent/load-vmm.ts';
import { defineCommand, option } from '../../command.ts';
import { choice } from '../../values.ts';

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
    const signal = await ctx.untilShutdown();
    ctx.print(`received ${signal}; agent stopping (VMs keep running)`);
    await agent.close();
    return { data: { socket: agent.socket }, human: [{ kind: 'text', text: 'agent stopped' }] };
  },
});
