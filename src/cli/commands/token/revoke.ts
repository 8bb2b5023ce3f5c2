import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tokenFields } from '../../views/token-views.ts';

export const tokenRevoke = defineCommand({
  path: ['token', 'revoke'],
  description: 'Revoke any API token by id (admin); it stops working at once',
  args: { tokenId: arg(id('token-id'), "the token's id (from 'mvm token list')") },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const token = await ctx.client().call('revokeToken', { params: { token: args.tokenId } });
    return { data: token, human: [tokenFields(token)] };
  },
});
