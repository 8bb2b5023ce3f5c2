import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { arg, defineCommand } from '../../command.ts';
import { id } from '../../values.ts';
import { tokenTable } from '../../views/token-views.ts';

export const tenantTokenList = defineCommand({
  path: ['tenant', 'token', 'list'],
  description: "List a tenant's API tokens: ids, names, expiry and last use, never the secrets",
  args: { tenant: arg(id('tenant'), 'the tenant whose tokens to list') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const tokens = await listAll(ctx.client(), 'listTokens', { params: { tenant: args.tenant } });
    const empty = `tenant '${args.tenant}' has no tokens; issue one with 'mvm tenant token create ${args.tenant} --name <name>'`;
    return { data: tokens, human: [tokenTable(tokens, new Date(), empty)] };
  },
});
