import { errorMessage } from '../../core/errors.ts';
import { readFileSync } from 'node:fs';

/**
 * The one JSON config file the CLI, the coordinator and the agent all read their file layer
 * from: where it is and how its text is read. Each reader validates its own part of it.
 */

/** Read when neither --config nor MVM_CONFIG names a file, and only if it exists. */
export const DEFAULT_CONFIG_FILE = '/etc/mvm/config.json';

/** Returns a file's text, or undefined when it does not exist or cannot be read. */
export type ReadText = (path: string) => string | undefined;

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** --config wins over MVM_CONFIG; without either the default file is read if it exists. */
export function configFileLocation(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  fallback: string = DEFAULT_CONFIG_FILE,
): { path: string; explicit: boolean } {
  const explicit = flag ?? nonEmpty(env['MVM_CONFIG']);
  return explicit === undefined
    ? { path: fallback, explicit: false }
    : { path: explicit, explicit: true };
}

/**
 * The file's JSON. `found` is false when there is no file (a problem only if one was named);
 * `json` is undefined when the text is not JSON (a problem).
 */
export function readConfigJson(
  where: { path: string; explicit: boolean },
  read: ReadText,
  problems: string[],
): { found: boolean; json?: unknown } {
  const text = read(where.path);
  if (text === undefined) {
    if (where.explicit) {
      problems.push(
        `config file ${where.path} cannot be read; check the path given by --config or MVM_CONFIG`,
      );
    }
    return { found: false };
  }
  try {
    return { found: true, json: JSON.parse(text) as unknown };
  } catch (error) {
    problems.push(`config file ${where.path} is not valid JSON: ${errorMessage(error)}`);
    return { found: true };
  }
}

/** The one precedence every config reader follows: defaults ← file ← env ← flags. */
export function stackLayers<L extends object>(layers: {
  defaults: L;
  file: L;
  env: L;
  flags: L;
}): L {
  return { ...layers.defaults, ...layers.file, ...layers.env, ...layers.flags };
}
