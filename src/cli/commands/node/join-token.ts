import { defineCommand, flag, option } from '../../command.ts';
import { duration, id } from '../../values.ts';

export const nodeJoinToken = defineCommand({
  path: ['node', 'join-token'],
  description: "Issue a one-time token for 'mvm add host' on a new host (the secret is shown once)",
  args: {},
  options: {
    node: option(id('node'), 'the only node id the token may join as (default: any new node)'),
    ttl: option(duration, 'how long the token stays usable, e.g. 15m, 1h (default 1h, at most 7d)'),
    production: flag('print the join command with --production'),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const issued = await ctx.client().call('createJoinToken', {
      body: {
        ...(opts.node !== undefined ? { nodeId: opts.node } : {}),
        ...(opts.ttl !== undefined ? { ttlSeconds: opts.ttl } : {}),
      },
    });
    const { coordinatorUrl } = ctx.config();
    const command = [
      'mvm add host',
      `--coordinator ${coordinatorUrl}`,
      `--token ${issued.token}`,
      `--ca-fingerprint ${issued.caFingerprint}`,
      ...(opts.node !== undefined ? [`--node-id ${opts.node}`] : []),
      ...(opts.production ? ['--production'] : []),
    ].join(' ');
    return {
      data: issued,
      human: [
        {
          kind: 'fields',
          fields: [
            ['token id', issued.id],
            ['node', issued.nodeId ?? '(any new node)'],
            ['expires', issued.expiresAt],
            ['CA fingerprint', issued.caFingerprint],
            ['token', issued.token],
          ],
        },
        { kind: 'text', text: `on the new host run:\n  ${command}` },
        { kind: 'text', text: 'the token works once and is not shown again' },
      ],
    };
  },
});
