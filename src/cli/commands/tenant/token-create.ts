import { arg, defineCommand, option, requiredOption } from '../../command.ts';
import { duration, id, isoTime, text } from '../../values.ts';
import { issuedTokenBlocks } from '../../views/token-views.ts';

export const tenantTokenCreate = defineCommand({
  path: ['tenant', 'token', 'create'],
  description: 'Issue an API token scoped to one tenant (the secret is shown once)',
  args: { tenant: arg(id('tenant'), 'the tenant the token may act on') },
  options: {
    name: requiredOption(text('<name>'), 'a label to recognise the token by, e.g. ci'),
    expiresIn: option(duration, 'refuse the token after this long, e.g. 30d, 12h (default: never)'),
    expiresAt: option(isoTime, 'refuse the token from this time on, e.g. 2027-01-31T18:00:00Z'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const issued = await ctx.client().call('createToken', {
      params: { tenant: args.tenant },
      body: {
        name: opts.name,
        ...(opts.expiresIn !== undefined ? { expiresInSeconds: opts.expiresIn } : {}),
        ...(opts.expiresAt !== undefined ? { expiresAt: opts.expiresAt } : {}),
      },
    });
    return { data: issued, human: issuedTokenBlocks(issued) };
  },
});
