import { join, resolve } from 'node:path';
import { z } from 'zod';
import { errorMessage, ValidationError } from '../core/errors.ts';
import { weakSecretProblem } from '../core/secret-strength.ts';
import { DEFAULT_CLUSTER_CIDR, validateClusterCidr } from '../core/subnets.ts';
import { parseStoreUrl, redactStoreUrl } from '../db/store-url.ts';
import { stackLayers } from '../drivers/fs/config-file.ts';
import { envLayer, fileLayer, flagLayer, keyPaths, readTextFile } from './config-layers.ts';
import type { ConfigSources, Key, Layer, ReadText } from './config-layers.ts';
import { httpUrlSchema } from '../contract/common.ts';

export type { ConfigFlags, ConfigSources, ReadText } from './config-layers.ts';
export { DEFAULT_CONFIG_FILE, envNames, readTextFile } from './config-layers.ts';

/**
 * The one config module: defaults ← file ← env ← flags, validated with every problem reported
 * together (each naming where the bad value came from), then frozen.
 */
export interface CoordinatorSettings {
  /** host:port the coordinator listens on. */
  listen: string;
  /** A SQLite file path or a postgres:// URL. */
  databaseUrl: string;
  clusterCidr: string;
  adminToken?: string;
  /**
   * The secrets master keys (MVM_SECRETS_KEY: base64, comma-separated, current first); unset:
   * `<data-dir>/secrets.key`, created on first start.
   */
  secretsKey?: string;
  /** Where the coordinator keeps its state, including `admin.token`. */
  dataDir: string;
}

export interface Config {
  coordinatorUrl: string;
  token?: string;
  dataDir: string;
  /**
   * The CA an https coordinator's certificate must chain to: the file named by --ca-file, or
   * the local coordinator's own CA (`<data-dir>/ca/ca.crt`) when readable.
   */
  caPem?: string;
  /** The file the values came from, when one was read. */
  configFile?: string;
  coordinator: CoordinatorSettings;
}

export const DEFAULT_COORDINATOR_URL = 'http://127.0.0.1:7070';
export const DEFAULT_LISTEN = '127.0.0.1:7070';
export const DEFAULT_DATA_DIR = '/var/lib/mvm';

const listenSchema = z
  .string()
  .regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?:[0-9]{1,5})$/, {
    message: 'must look like host:port, e.g. 127.0.0.1:7070',
    abort: true,
  })
  .refine(
    (value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535,
    'has a port above 65535',
  );

const clusterCidrSchema = z.string().transform((value, ctx) => {
  try {
    return validateClusterCidr(value);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: errorMessage(error),
    });
    return z.NEVER;
  }
});

/**
 * A store URL the coordinator could not open is refused with the other problems, before
 * `coordinator serve` makes its data dir: nothing is left behind.
 */
const databaseUrlSchema = z.string().superRefine((value, ctx) => {
  try {
    parseStoreUrl(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: errorMessage(error) });
  }
});

/** The coordinator refuses a weak admin secret at start; so does the configuration. */
const adminTokenSchema = z.string().superRefine((value, ctx) => {
  const problem = weakSecretProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const configSchema = z.strictObject({
  coordinatorUrl: httpUrlSchema,
  token: z.string().min(1, 'must not be empty').optional(),
  dataDir: z.string().min(1, 'must not be empty'),
  caFile: z.string().min(1, 'must not be empty').optional(),
  coordinator: z.strictObject({
    listen: listenSchema,
    databaseUrl: databaseUrlSchema,
    clusterCidr: clusterCidrSchema,
    adminToken: adminTokenSchema.optional(),
    secretsKey: z.string().min(1, 'must not be empty').optional(),
  }),
});

function defaultsLayer(): Layer {
  return {
    coordinatorUrl: { value: DEFAULT_COORDINATOR_URL, from: 'default' },
    dataDir: { value: DEFAULT_DATA_DIR, from: 'default' },
    listen: { value: DEFAULT_LISTEN, from: 'default' },
    clusterCidr: { value: DEFAULT_CLUSTER_CIDR, from: 'default' },
  };
}

function rawConfig(merged: Layer, cwd: string): z.input<typeof configSchema> {
  const dataDir = resolve(cwd, merged.dataDir?.value ?? DEFAULT_DATA_DIR);
  return {
    coordinatorUrl: merged.coordinatorUrl?.value ?? DEFAULT_COORDINATOR_URL,
    token: merged.token?.value,
    dataDir,
    caFile: merged.caFile === undefined ? undefined : resolve(cwd, merged.caFile.value),
    coordinator: {
      listen: merged.listen?.value ?? DEFAULT_LISTEN,
      databaseUrl: merged.databaseUrl?.value ?? join(dataDir, 'coordinator.sqlite'),
      clusterCidr: merged.clusterCidr?.value ?? DEFAULT_CLUSTER_CIDR,
      adminToken: merged.adminToken?.value,
      secretsKey: merged.secretsKey?.value,
    },
  };
}

const secretKeys: ReadonlySet<Key> = new Set(['token', 'adminToken', 'secretsKey']);

/** How a bad value is shown in a problem: never a secret, never a database password. */
function shownValue(key: Key, value: string): string {
  if (secretKeys.has(key)) return '(hidden)';
  return key === 'databaseUrl' ? `'${redactStoreUrl(value)}'` : `'${value}'`;
}

function originOf(path: readonly PropertyKey[], merged: Layer): string {
  const joined = path.map(String).join('.');
  const key = (Object.keys(keyPaths) as Key[]).find((candidate) => keyPaths[candidate] === joined);
  const setting = key === undefined ? undefined : merged[key];
  if (key === undefined || setting === undefined) return joined;
  return `${joined} ${shownValue(key, setting.value)} (from ${setting.from})`;
}

type ValidConfig = z.output<typeof configSchema>;

function validate(merged: Layer, cwd: string, problems: string[]): ValidConfig {
  const result = configSchema.safeParse(rawConfig(merged, cwd));
  if (!result.success) {
    problems.push(
      ...result.error.issues.map((issue) => `${originOf(issue.path, merged)}: ${issue.message}`),
    );
  }
  if (!result.success || problems.length > 0) {
    throw new ValidationError(
      `the mvm configuration has ${problems.length} problem(s); fix them and retry`,
      problems,
    );
  }
  return result.data;
}

/** Loads, validates and freezes the configuration; throws one ValidationError listing every problem. */
export function loadConfig(sources: ConfigSources): Config {
  const read = sources.readText ?? readTextFile;
  const problems: string[] = [];
  const file = fileLayer(sources, read, problems);
  const merged: Layer = stackLayers({
    defaults: defaultsLayer(),
    file: file.layer,
    env: envLayer(sources.env),
    flags: flagLayer(sources.flags),
  });
  const data = validate(merged, sources.cwd ?? process.cwd(), problems);
  const token = data.token ?? data.coordinator.adminToken ?? adminTokenFile(data.dataDir, read);
  const caPem = caCertificate(data, merged, read);
  return deepFreeze({
    coordinatorUrl: data.coordinatorUrl,
    ...(token === undefined ? {} : { token }),
    dataDir: data.dataDir,
    ...(caPem === undefined ? {} : { caPem }),
    ...(file.path === undefined ? {} : { configFile: file.path }),
    coordinator: { ...withoutUndefined(data.coordinator), dataDir: data.dataDir },
  });
}

/** A named CA file must be readable PEM; the local coordinator's CA is only a fallback. */
function caCertificate(data: ValidConfig, merged: Layer, read: ReadText): string | undefined {
  if (data.caFile === undefined) return read(join(data.dataDir, 'ca', 'ca.crt'));
  const pem = read(data.caFile);
  if (pem?.includes('-----BEGIN CERTIFICATE-----')) return pem;
  const problem = `caFile '${data.caFile}' (from ${merged.caFile?.from ?? 'flags'}) ${pem === undefined ? 'cannot be read' : 'holds no PEM certificate'}; pass the coordinator's CA certificate (<its data dir>/ca/ca.crt)`;
  throw new ValidationError(`the mvm configuration has 1 problem(s); fix them and retry`, [
    problem,
  ]);
}

/** The token the coordinator wrote on first start, so a local operator needs no setup. */
function adminTokenFile(dataDir: string, read: ReadText): string | undefined {
  const text = read(join(dataDir, 'admin.token'))?.trim();
  return text === undefined || text === '' ? undefined : text;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const inner of Object.values(value)) {
    if (typeof inner === 'object' && inner !== null) deepFreeze(inner);
  }
  return Object.freeze(value);
}
