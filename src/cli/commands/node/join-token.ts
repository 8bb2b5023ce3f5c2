import { ValidationError } from '../../../core/errors.ts';
import { defineCommand, flag, option } from '../../command.ts';
import { id, type ValueSpec } from '../../values.ts';

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `15m`, `1h`, `2d`. */
export const duration: ValueSpec<number> = {
  placeholder: '<duration>',
  parse(raw, label) {
    const match = /^([1-9][0-9]*)([smhd])$/.exec(raw);
    const unit = match?.[2] === undefined ? undefined : UNIT_SECONDS[match[2]];
    if (match?.[1] === undefined || unit === undefined) {
      const problem = `${label} '${raw}' is not a duration; write a number and a unit (s, m, h, d), like 1h`;
      throw new ValidationError(problem, [problem]);
    }
    return Number(match[1]) * unit;
  },
};

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
