import { join } from 'node:path';
import { devImageOptions } from '../../../agent/agent-config.ts';
import { checkTombstoneRetention } from '../../../core/tombstone-retention.ts';
import { checkMoveWaitingAfter } from '../../../core/raise-relocation.ts';
import { redactStoreUrl } from '../../../db/store-url.ts';
import type { CoordinatorSettings } from '../../config.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { databaseOption } from './database-option.ts';
import { duration, integer, text } from '../../values.ts';

/** Loaded only here, so every other command starts without the server's dependencies. */
async function loadServer(): Promise<
  (
    settings: CoordinatorSettings & {
      tls?: { names?: string[] };
      nodeLostAfterMs?: number;
      tombstoneRetentionMs?: number;
      moveWaitingAfterMs?: number;
      images?: { dev: ReturnType<typeof devImageOptions> };
    },
  ) => Promise<RunningServer>
> {
  const { serveCoordinator } = await import('../../../coordinator/serve.ts');
  return serveCoordinator;
}

interface RunningServer {
  url: string;
  close(): Promise<void>;
}

function tokenWhere(settings: CoordinatorSettings): string {
  return settings.adminToken === undefined
    ? `${join(settings.dataDir, 'admin.token')} (created on first start, mode 0600)`
    : 'as configured (MVM_ADMIN_TOKEN or the config file)';
}

export const coordinatorServe = defineCommand({
  path: ['coordinator', 'serve'],
  description: 'Run the coordinator until SIGINT or SIGTERM',
  args: {},
  options: {
    listen: option(
      text('<host:port>'),
      'address to listen on (env MVM_LISTEN, default 127.0.0.1:7070)',
    ),
    database: databaseOption,
    clusterCidr: option(
      text('<cidr>'),
      'CIDR tenant /24s are cut from (env MVM_CLUSTER_CIDR, default 10.240.0.0/12)',
    ),
    production: flag(
      'serve HTTPS with mutual TLS: a server certificate from the CA in <data-dir>/ca, node certificates required on node routes',
    ),
    tlsNames: option(
      text('<names>'),
      'with --production: comma-separated extra DNS names or IPs agents reach this coordinator by',
    ),
    nodeLostAfterMs: option(
      integer(100, 86_400_000),
      'declare a node lost (and re-place its instances) after this long without a heartbeat (default 30000)',
    ),
    tombstoneRetention: option(
      duration,
      'keep deleted instances for watches to resume across this long (1m to 30d, default 1d); a watch from before gets reset and the list',
    ),
    moveWaitingAfter: option(
      duration,
      'move a raise that has waited this long for room on its node to a node with room, woken there (1m to 7d; off by default)',
    ),
  },
  output: 'text',
  async handler(ctx, _args, opts) {
    const {
      production,
      tlsNames,
      nodeLostAfterMs,
      tombstoneRetention,
      moveWaitingAfter,
      ...flags
    } = opts;
    // Out of bounds is a usage error before anything starts.
    const tombstoneRetentionMs =
      tombstoneRetention === undefined
        ? undefined
        : checkTombstoneRetention(tombstoneRetention * 1000);
    const moveWaitingAfterMs =
      moveWaitingAfter === undefined ? undefined : checkMoveWaitingAfter(moveWaitingAfter * 1000);
    const settings = ctx.config(flags).coordinator;
    const names = (tlsNames ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const serve = await loadServer();
    const server = await serve({
      ...settings,
      // Revisions are built here with the same dev image inputs as this host's agent.
      images: { dev: devImageOptions(ctx.agentConfig()) },
      ...(production ? { tls: { names } } : {}),
      ...(nodeLostAfterMs !== undefined ? { nodeLostAfterMs } : {}),
      ...(tombstoneRetentionMs !== undefined ? { tombstoneRetentionMs } : {}),
      ...(moveWaitingAfterMs !== undefined ? { moveWaitingAfterMs } : {}),
    });
    ctx.print(`mvm coordinator listening on ${server.url}`);
    ctx.print(`store: ${redactStoreUrl(settings.databaseUrl)}`);
    ctx.print(`admin token: ${tokenWhere(settings)}`);
    const signal = await ctx.untilShutdown();
    ctx.print(`received ${signal}; shutting down`);
    await server.close();
    return { data: { url: server.url }, human: [{ kind: 'text', text: 'coordinator stopped' }] };
  },
});
