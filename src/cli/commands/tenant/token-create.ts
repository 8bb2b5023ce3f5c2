import { arg, defineCommand, requiredOption } from '../../command.ts';
import { id, text } from '../../values.ts';

export const tenantTokenCreate = defineCommand({
  path: ['tenant', 'token', 'create'],
  description: 'Issue an API token scoped to one tenant (the secret is shown once)',
  args: { tenant: arg(id('tenant'), 'the tenant the token may act on') },
  options: { name: requiredOption(text('<name>'), 'a label to recognise the token by, e.g. ci') },
  output: 'data',
  async handler(ctx, args, opts) {
    const issued = await ctx
      .client()
      .call('createToken', { params: { tenant: args.tenant }, body: { name: opts.name } });
    return {
      data: issued,
      human: [
        {
          kind: 'fields',
          fields: [
            ['token id', issued.id],
            ['tenant', issued.tenantId ?? '-'],
            ['name', issued.name],
            ['token', issued.token],
          ],
        },
        {
          kind: 'text',
          text: 'store the token now: it is not shown again (use it with --token or MVM_TOKEN)',
        },
      ],
    };
  },
});
