import { defineCommand } from '../../command.ts';
import { issuedTokenBlocks } from '../../views/token-views.ts';

export const tokenRotateAdmin = defineCommand({
  path: ['token', 'rotate-admin'],
  description:
    "Replace the admin token: a new one (shown once, and written to the coordinator's admin.token), every other revoked",
  args: {},
  options: {},
  output: 'data',
  async handler(ctx) {
    const rotated = await ctx.client().call('rotateAdminToken', {});
    const ended = rotated.revoked.length === 0 ? 'none' : rotated.revoked.join(', ');
    return {
      data: rotated,
      human: [
        ...issuedTokenBlocks(rotated),
        { kind: 'text', text: `revoked admin tokens: ${ended}` },
      ],
    };
  },
});
