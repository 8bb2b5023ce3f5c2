import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { defineCommand, option } from '../../command.ts';
import { id } from '../../values.ts';
import { tokenTable } from '../../views/token-views.ts';

export const tokenList = defineCommand({
  path: ['token', 'list'],
  description: 'List every API token, admin and tenant: ids, names, expiry and last use',
  args: {},
  options: { tenant: option(id('tenant'), "only this tenant's tokens") },
  output: 'data',
  async handler(ctx, _args, opts) {
    const tokens = await listAll(ctx.client(), 'listAllTokens', {
      query: opts.tenant !== undefined ? { tenant: opts.tenant } : {},
    });
    return { data: tokens, human: [tokenTable(tokens, new Date(), 'no tokens')] };
  },
});
