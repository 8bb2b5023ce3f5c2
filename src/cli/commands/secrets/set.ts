import { arg, defineCommand, variadicArg } from '../../command.ts';
import { appliedWhen, secretTable } from '../../views/secret-views.ts';
import { secretAssignment, tenantOrPool, valuesOf } from './assignments.ts';

const scopeHelp = 'the tenant, or tenant/pool for secrets of one pool (they override the tenant’s)';

function define(verb: 'set' | 'rotate', description: string) {
  return defineCommand({
    path: ['secrets', verb],
    description,
    args: {
      scope: arg(tenantOrPool, scopeHelp),
      values: variadicArg(
        secretAssignment,
        'NAME=VALUE, or NAME=@FILE to read the value from a file (keeps it out of shell history)',
      ),
    },
    options: {},
    output: 'data',
    async handler(ctx, args) {
      const values = await valuesOf(args.values);
      const { tenantId, poolId } = args.scope;
      const body = { ...(poolId !== undefined ? { pool: poolId } : {}), values };
      const route = verb === 'set' ? 'setSecrets' : 'rotateSecrets';
      const result = await ctx.client().call(route, { params: { tenant: tenantId }, body });
      return {
        data: result,
        human: [
          secretTable(result.secrets, 'no secrets changed'),
          { kind: 'text', text: appliedWhen },
        ],
      };
    },
  });
}

export const secretsSet = define(
  'set',
  'Set secrets of a tenant or pool, several at once (guests read /run/secrets/NAME, mode 0400); a new value is one version up, the same value changes nothing',
);

export const secretsRotate = define(
  'rotate',
  'Replace secrets that are already set with new values (one version up); unlike set, refuses a name that is not set and a value equal to the current one',
);
