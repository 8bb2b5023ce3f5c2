import { readFile } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { defineCommand, flag, option } from '../command.ts';
import { integer } from '../values.ts';
import { runQuickstart, type QuickstartSizes } from '../quickstart/run-quickstart.ts';

/** vCPUs of microVMs are host threads; 4:1 lets a small dev host run a demo fleet. */
const CPU_OVERCOMMIT = 4;

export const quickstart = defineCommand({
  path: ['quickstart'],
  description:
    'Start a fleet-of-one (coordinator on SQLite + agent), create a demo tenant and boot its microVMs',
  args: {},
  options: {
    running: option(integer(0, 8), 'demo workers to keep running (default 1)'),
    warm: option(integer(0, 8), 'demo workers to keep warm: paused, RAM kept (default 1)'),
    sleeping: option(integer(0, 8), 'demo workers to keep sleeping: snapshot on disk (default 1)'),
    exit: flag('return once converged instead of serving until Ctrl-C (VMs keep running)'),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const config = ctx.config();
    const sizes: QuickstartSizes = {
      running: opts.running ?? 1,
      warm: opts.warm ?? 1,
      sleeping: opts.sleeping ?? 1,
    };
    const result = await runQuickstart({
      settings: config.coordinator,
      sizes,
      node: {
        id:
          hostname()
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, '-')
            .replace(/^-+|-+$/g, '') || 'local',
        hostname: hostname(),
        vcpus: cpus().length * CPU_OVERCOMMIT,
        memMib: Math.floor(totalmem() / 1024 / 1024),
      },
      readToken: async () =>
        (await readFile(join(config.coordinator.dataDir, 'admin.token'), 'utf8')).trim(),
      // The embedded coordinator in dev mode: it is trusted on first contact, never production.
      agentConfig: (link) =>
        ctx.agentConfig({
          dataDir: config.coordinator.dataDir,
          coordinator: link.coordinatorUrl,
          token: link.token,
          node: link.nodeId,
          production: false,
        }),
      print: (line) => ctx.print(line),
      untilShutdown: opts.exit === true ? undefined : () => ctx.untilShutdown(),
    });
    return {
      data: result,
      human: [
        {
          kind: 'text',
          text: result.alreadyRunning ? 'quickstart: nothing to do' : 'quickstart: done',
        },
      ],
    };
  },
});
