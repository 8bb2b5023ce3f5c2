import { MvmError } from './errors.ts';
import { utf8Bytes } from './secrets.ts';

/**
 * A pool's config: named text files every instance of the pool finds in `/etc/mvm-config`
 * (read-only; a gateway reads `gateway.json` there). Not secret: it travels in the signed
 * desired-state document. Each change is a new version, applied at the next start or wake.
 */

/**
 * A flat file name: no separators, not hidden, so nothing escapes the config directory; not
 * `__proto__`, which would vanish as a key of a JSON map.
 */
export const CONFIG_FILE_PATTERN = /^(?!__proto__$)[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
export const CONFIG_FILE_RULE =
  "a config file name: 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-' (nor __proto__)";

export const configLimits = {
  files: 64,
  /** One file, in UTF-8 bytes. */
  fileBytes: 256 * 1024,
  /** Every file of a pool, in UTF-8 bytes. */
  poolBytes: 512 * 1024,
} as const;

export interface PoolConfigFiles {
  version: number;
  files: Readonly<Record<string, string>>;
}

/** The files after a change: `set` added or replaced (or, with `replace`, alone), `unset` gone. */
export function changedFiles(
  current: Readonly<Record<string, string>>,
  change: { set?: Readonly<Record<string, string>>; unset?: readonly string[]; replace?: boolean },
): Record<string, string> {
  const files: Record<string, string> = change.replace === true ? {} : { ...current };
  for (const [name, content] of Object.entries(change.set ?? {})) files[name] = content;
  for (const name of change.unset ?? []) delete files[name];
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Refuses a pool config over the file count or size. */
export function checkConfigLimits(pool: string, files: Readonly<Record<string, string>>): void {
  const names = Object.keys(files);
  const bytes = Object.values(files).reduce((sum, content) => sum + utf8Bytes(content), 0);
  const problems: string[] = [];
  if (names.length > configLimits.files) {
    problems.push(`${names.length} files, over the limit of ${configLimits.files}`);
  }
  if (bytes > configLimits.poolBytes) {
    problems.push(`${bytes} bytes, over the limit of ${configLimits.poolBytes}`);
  }
  if (problems.length === 0) return;
  throw new MvmError(
    'quota_exceeded',
    `the config of pool '${pool}' would hold ${problems.join(' and ')}; unset files it no longer needs first`,
    { pool, problems },
  );
}
