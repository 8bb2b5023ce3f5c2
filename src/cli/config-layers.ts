import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Where config values come from: a JSON file, the environment, and flags. Each value keeps a
 * note of its origin so a validation problem can say which layer to fix.
 */

/** Read when neither --config nor MVM_CONFIG names a file, and only if it exists. */
export const DEFAULT_CONFIG_FILE = '/etc/mvm/config.json';

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

/** Returns a file's text, or undefined when it does not exist or cannot be read. */
export type ReadText = (path: string) => string | undefined;

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
  | 'caFile';
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
    })
    .optional(),
});

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

function configFilePath(sources: ConfigSources): { path: string; explicit: boolean } {
  const explicit = sources.flags.config ?? nonEmpty(sources.env['MVM_CONFIG']);
  if (explicit !== undefined) return { path: explicit, explicit: true };
  const fallback = sources.defaultConfigFile ?? DEFAULT_CONFIG_FILE;
  return { path: fallback, explicit: false };
}

export function fileLayer(
  sources: ConfigSources,
  read: ReadText,
  problems: string[],
): { layer: Layer; path?: string } {
  const where = configFilePath(sources);
  const text = read(where.path);
  if (text === undefined) {
    if (where.explicit)
      problems.push(
        `config file ${where.path} cannot be read; check the path given by --config or MVM_CONFIG`,
      );
    return { layer: {} };
  }
  const parsed = parseFile(where.path, text, problems);
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
  text: string,
  problems: string[],
): z.infer<typeof fileSchema> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(
      `config file ${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
    return undefined;
  }
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

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
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
