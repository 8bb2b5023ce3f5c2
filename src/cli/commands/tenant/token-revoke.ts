import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tokenFields } from '../../views/token-views.ts';

export const tenantTokenRevoke = defineCommand({
  path: ['tenant', 'token', 'revoke'],
  description: "Revoke one of a tenant's API tokens by id; it stops working at once",
  args: {
    tenant: arg(id('tenant'), 'the tenant the token belongs to'),
    tokenId: arg(id('token-id'), "the token's id (from 'mvm tenant token list')"),
  },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const token = await ctx.client().call('revokeTenantToken', {
      params: { tenant: args.tenant, token: args.tokenId },
    });
    return { data: token, human: [tokenFields(token)] };
  },
});
