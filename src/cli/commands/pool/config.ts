import { ValidationError } from '../../../core/errors.ts';
import { arg, defineCommand, flag, optionalArg, variadicArg } from '../../command.ts';
import { poolPath } from '../../values.ts';
import { appliedWhen, configTable } from '../../views/secret-views.ts';
import { configAssignment, configFileName, valuesOf } from '../secrets/assignments.ts';

/** `mvm pool config ...`: the files a pool's guests find in /etc/mvm-config (read-only). */
const params = (path: { tenantId: string; poolId: string }) => ({
  tenant: path.tenantId,
  pool: path.poolId,
});

export const poolConfigSet = defineCommand({
  path: ['pool', 'config', 'set'],
  description:
    "Add or replace files in a pool's /etc/mvm-config (a new version; a gateway reads gateway.json there); applied at each instance's next start or wake",
  args: {
    path: arg(poolPath, 'the pool'),
    files: variadicArg(
      configAssignment,
      'FILE (named by its base name, e.g. gateway.json), NAME=VALUE or NAME=@FILE',
    ),
  },
  options: { replace: flag('the files given become the whole config (others are removed)') },
  output: 'data',
  async handler(ctx, args, opts) {
    const files = await valuesOf(args.files);
    const config = await ctx.client().call('setPoolConfig', {
      params: params(args.path),
      body: { files, ...(opts.replace === true ? { replace: true } : {}) },
    });
    return { data: config, human: [...configTable(config), { kind: 'text', text: appliedWhen }] };
  },
});

export const poolConfigUnset = defineCommand({
  path: ['pool', 'config', 'unset'],
  description: "Remove files from a pool's /etc/mvm-config (a new version)",
  args: {
    path: arg(poolPath, 'the pool'),
    names: variadicArg(configFileName, 'the file names'),
  },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const config = await ctx.client().call('unsetPoolConfig', {
      params: params(args.path),
      body: { names: args.names },
    });
    return { data: config, human: [...configTable(config), { kind: 'text', text: appliedWhen }] };
  },
});

export const poolConfigList = defineCommand({
  path: ['pool', 'config', 'list'],
  description: "List a pool's config files, their sizes and the config version",
  args: { path: arg(poolPath, 'the pool') },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const config = await ctx.client().call('getPoolConfig', { params: params(args.path) });
    return { data: config, human: configTable(config) };
  },
});

export const poolConfigGet = defineCommand({
  path: ['pool', 'config', 'get'],
  description: "Print one of a pool's config files (or, with --json, the whole config)",
  args: {
    path: arg(poolPath, 'the pool'),
    name: optionalArg(configFileName, 'the file to print; all of them when omitted'),
  },
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const config = await ctx.client().call('getPoolConfig', { params: params(args.path) });
    if (args.name === undefined) {
      const texts = Object.entries(config.files).map(([name, content]) => ({
        kind: 'text' as const,
        text: `==> /etc/mvm-config/${name} <==\n${content}`,
      }));
      return { data: config, human: texts.length > 0 ? texts : configTable(config) };
    }
    const content = config.files[args.name];
    if (content === undefined) {
      const problem = `pool '${config.tenantId}/${config.poolId}' has no config file '${args.name}' (version ${config.version}); see 'mvm pool config list'`;
      throw new ValidationError(problem, [problem]);
    }
    return {
      data: { ...config, files: { [args.name]: content } },
      human: [{ kind: 'text', text: content }],
    };
  },
});
