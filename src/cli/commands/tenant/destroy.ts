import { arg, defineCommand, flag } from '../../command.ts';
import { id } from '../../values.ts';
import { destroyedText } from '../destroyed-text.ts';

export const tenantDestroy = defineCommand({
  path: ['tenant', 'destroy'],
  description: 'Destroy a tenant; refused while it has pools unless --force',
  args: { id: arg(id('tenant'), 'the tenant id') },
  options: { force: flag('also destroy every pool and instance of the tenant') },
  output: 'data',
  async handler(ctx, args, opts) {
    const result = await ctx.client().call('destroyTenant', {
      params: { tenant: args.id },
      query: opts.force ? { force: 'true' } : {},
    });
    return {
      data: result,
      human: [{ kind: 'text', text: destroyedText(`tenant '${args.id}'`, result.destroyed) }],
    };
  },
});
