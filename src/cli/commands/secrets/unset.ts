import { arg, defineCommand, variadicArg } from '../../command.ts';
import { appliedWhen } from '../../views/secret-views.ts';
import { secretName, tenantOrPool } from './assignments.ts';

export const secretsUnset = defineCommand({
  path: ['secrets', 'unset'],
  description: 'Remove secrets of a tenant or pool by name',
  args: {
    scope: arg(tenantOrPool, 'the tenant, or tenant/pool for secrets of one pool'),
    names: variadicArg(secretName, 'the secret names'),
  },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const { tenantId, poolId } = args.scope;
    const result = await ctx.client().call('unsetSecrets', {
      params: { tenant: tenantId },
      body: { ...(poolId !== undefined ? { pool: poolId } : {}), names: args.names },
    });
    const lines = [
      ...(result.removed.length > 0 ? [`removed: ${result.removed.join(', ')}`] : []),
      ...(result.missing.length > 0
        ? [`not set (nothing to remove): ${result.missing.join(', ')}`]
        : []),
      ...(result.removed.length > 0 ? [appliedWhen] : []),
    ];
    return { data: result, human: [{ kind: 'text', text: lines.join('\n') }] };
  },
});
