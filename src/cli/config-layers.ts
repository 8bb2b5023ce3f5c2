import { z } from 'zod';
import { configFileLocation, nonEmpty, readConfigJson } from '../drivers/fs/config-file.ts';
import type { ReadText } from '../drivers/fs/config-file.ts';

export { DEFAULT_CONFIG_FILE, nonEmpty, readTextFile } from '../drivers/fs/config-file.ts';
export type { ReadText } from '../drivers/fs/config-file.ts';

/**
 * Where config values come from: a JSON file, the environment, and flags. Each value keeps a
 * note of its origin so a validation problem can say which layer to fix.
 */

export interface ConfigFlags {
  config?: string;
  coordinator?: string;
  token?: string;
  dataDir?: string;
  listen?: string;
  database?: string;
  clusterCidr?: string;
  caFile?: string;
}

export interface ConfigSources {
  flags: ConfigFlags;
  env: Readonly<Record<string, string | undefined>>;
  readText?: ReadText;
  cwd?: string;
  /** Read when neither --config nor MVM_CONFIG names a file, and only if it exists. */
  defaultConfigFile?: string;
}

export type Key =
  | 'coordinatorUrl'
  | 'token'
  | 'dataDir'
  | 'listen'
  | 'databaseUrl'
  | 'clusterCidr'
  | 'adminToken'
  | 'caFile'
  | 'secretsKey';
export interface Setting {
  value: string;
  from: string;
}
export type Layer = Partial<Record<Key, Setting>>;

export const envNames: Readonly<Record<Key, string>> = {
  coordinatorUrl: 'MVM_COORDINATOR_URL',
  token: 'MVM_TOKEN',
  dataDir: 'MVM_DATA_DIR',
  listen: 'MVM_LISTEN',
  databaseUrl: 'MVM_DATABASE_URL',
  clusterCidr: 'MVM_CLUSTER_CIDR',
  adminToken: 'MVM_ADMIN_TOKEN',
  caFile: 'MVM_CA_FILE',
  secretsKey: 'MVM_SECRETS_KEY',
};

export const flagNames: Readonly<Record<Key, keyof ConfigFlags | undefined>> = {
  coordinatorUrl: 'coordinator',
  token: 'token',
  dataDir: 'dataDir',
  listen: 'listen',
  databaseUrl: 'database',
  clusterCidr: 'clusterCidr',
  adminToken: undefined,
  caFile: 'caFile',
  secretsKey: undefined,
};

export const keyPaths: Readonly<Record<Key, string>> = {
  coordinatorUrl: 'coordinatorUrl',
  token: 'token',
  dataDir: 'dataDir',
  listen: 'coordinator.listen',
  databaseUrl: 'coordinator.databaseUrl',
  clusterCidr: 'coordinator.clusterCidr',
  adminToken: 'coordinator.adminToken',
  caFile: 'caFile',
  secretsKey: 'coordinator.secretsKey',
};

const fileSchema = z.strictObject({
  coordinatorUrl: z.string().optional(),
  token: z.string().optional(),
  dataDir: z.string().optional(),
  caFile: z.string().optional(),
  coordinator: z
    .strictObject({
      listen: z.string().optional(),
      databaseUrl: z.string().optional(),
      clusterCidr: z.string().optional(),
      adminToken: z.string().optional(),
      secretsKey: z.string().optional(),
    })
    .optional(),
  /** The agent's section, validated by the agent's own config (src/agent/agent-config.ts). */
  agent: z.record(z.string(), z.unknown()).optional(),
});

export function fileLayer(
  sources: ConfigSources,
  read: ReadText,
  problems: string[],
): { layer: Layer; path?: string } {
  const where = configFileLocation(sources.flags.config, sources.env, sources.defaultConfigFile);
  const file = readConfigJson(where, read, problems);
  if (!file.found) return { layer: {} };
  const parsed = file.json === undefined ? undefined : parseFile(where.path, file.json, problems);
  if (parsed === undefined) return { layer: {}, path: where.path };
  const from = `file ${where.path}`;
  const values: Partial<Record<Key, string | undefined>> = {
    coordinatorUrl: parsed.coordinatorUrl,
    token: parsed.token,
    dataDir: parsed.dataDir,
    caFile: parsed.caFile,
    ...parsed.coordinator,
  };
  return { layer: layerOf(values, from), path: where.path };
}

function parseFile(
  path: string,
  json: unknown,
  problems: string[],
): z.infer<typeof fileSchema> | undefined {
  const result = fileSchema.safeParse(json);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const at = issue.path.length > 0 ? ` at '${issue.path.join('.')}'` : '';
    problems.push(`config file ${path}${at}: ${issue.message}`);
  }
  return undefined;
}

function layerOf(
  values: Partial<Record<Key, string | undefined>>,
  from: string | ((key: Key) => string),
): Layer {
  const layer: Layer = {};
  for (const [key, value] of Object.entries(values) as Array<[Key, string | undefined]>) {
    if (value !== undefined)
      layer[key] = { value, from: typeof from === 'string' ? from : from(key) };
  }
  return layer;
}

export function envLayer(env: ConfigSources['env']): Layer {
  const keys = Object.keys(envNames) as Key[];
  const values = Object.fromEntries(keys.map((key) => [key, nonEmpty(env[envNames[key]])]));
  return layerOf(values, (key) => `env ${envNames[key]}`);
}

export function flagLayer(flags: ConfigFlags): Layer {
  const keys = Object.keys(flagNames) as Key[];
  const values = Object.fromEntries(
    keys.map((key) => {
      const name = flagNames[key];
      return [key, name === undefined ? undefined : flags[name]];
    }),
  );
  return layerOf(
    values,
    (key) => `flag --${(flagNames[key] ?? key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  );
}
