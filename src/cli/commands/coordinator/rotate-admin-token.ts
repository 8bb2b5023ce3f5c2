import { defineCommand } from '../../command.ts';
import { databaseOption } from './database-option.ts';

export const coordinatorRotateAdminToken = defineCommand({
  path: ['coordinator', 'rotate-admin-token'],
  description:
    "On the coordinator's host: write a new admin token to <data-dir>/admin.token (0600) and revoke every other, through the store itself (works without a usable admin token)",
  args: {},
  options: {
    database: databaseOption,
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const settings = ctx.config(opts).coordinator;
    const { rotateAdminTokenOnHost } = await import('../../../coordinator/rotate-admin-on-host.ts');
    const rotated = await rotateAdminTokenOnHost(settings);
    const ended = rotated.revoked.length === 0 ? 'none' : rotated.revoked.join(', ');
    return {
      data: rotated,
      human: [
        {
          kind: 'fields',
          fields: [
            ['token id', rotated.tokenId],
            ['written to', `${rotated.file} (0600)`],
            ['revoked', ended],
          ],
        },
        {
          kind: 'text',
          text: 'a local CLI uses the new token at once; give it to remote admins with --token or MVM_TOKEN',
        },
      ],
    };
  },
});
