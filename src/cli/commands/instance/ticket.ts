import { sessionTicketKindSchema } from '../../../contract/session-tickets.ts';
import { arg, defineCommand, option } from '../../command.ts';
import { choice, instancePath } from '../../values.ts';

/** The socket URL a ticket opens: the coordinator's scheme as ws/wss, the route, `?ticket=`. */
export function ticketUrl(coordinatorUrl: string, path: string, ticket: string): string {
  const url = new URL(`${coordinatorUrl.replace(/\/+$/, '')}${path}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('ticket', ticket);
  return url.toString();
}

export const instanceTicket = defineCommand({
  path: ['instance', 'ticket'],
  description:
    'Mint a single-use session ticket (valid 30 s) that opens the instance\'s exec or logs WebSocket without an Authorization header, for a browser or another tool; bound to the instance, the session kind and this token\'s scope (docs/exec.md, "Tickets"). Prints the secret once',
  args: { path: arg(instancePath, 'the instance') },
  options: {
    session: option(
      choice(sessionTicketKindSchema.options, '<exec|logs>'),
      'the route it opens: exec (commands, terminals, copies; default) or logs',
    ),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const { tenantId, poolId, instanceId } = args.path;
    const minted = await ctx.client().call('createSessionTicket', {
      params: { tenant: tenantId, pool: poolId, instance: instanceId },
      body: { session: opts.session ?? 'exec' },
    });
    const url = ticketUrl(ctx.config().coordinatorUrl, minted.path, minted.ticket);
    return {
      data: { ...minted, url },
      human: [
        {
          kind: 'fields',
          fields: [
            ['ticket', minted.ticket],
            ['session', minted.session],
            ['expires', minted.expiresAt],
            ['url', url],
          ],
        },
      ],
    };
  },
});
