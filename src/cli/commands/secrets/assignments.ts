import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { errorMessage, ValidationError } from '../../../core/errors.ts';
import { assertId } from '../../../core/ids.ts';
import { CONFIG_FILE_PATTERN, CONFIG_FILE_RULE } from '../../../core/pool-config.ts';
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from '../../../core/secrets.ts';
import type { ValueSpec } from '../../values.ts';

/**
 * Command-line words that carry values: `NAME=VALUE`, `NAME=@FILE`, and for config a bare
 * `FILE` (named by its base name). A problem names the argument and the name, never a value:
 * these words may hold secrets.
 */
export interface Assignment {
  name: string;
  source: { literal: string } | { file: string };
}

export interface Scope {
  tenantId: string;
  poolId?: string;
}

function invalid(problem: string): ValidationError {
  return new ValidationError(problem, [problem]);
}

/** `tenant` or `tenant/pool`. */
export const tenantOrPool: ValueSpec<Scope> = {
  placeholder: '<tenant[/pool]>',
  parse(raw) {
    const [tenant = '', pool, ...rest] = raw.split('/');
    if (rest.length > 0) throw invalid(`'${raw}' must look like <tenant> or <tenant>/<pool>`);
    return {
      tenantId: assertId('tenant', tenant),
      ...(pool === undefined ? {} : { poolId: assertId('pool', pool) }),
    };
  },
};

function assignmentOf(raw: string, label: string, name: string): Assignment {
  const value = raw.slice(name.length + 1);
  if (!value.startsWith('@')) return { name, source: { literal: value } };
  const file = value.slice(1);
  if (file === '') throw invalid(`${label}: '${name}=@' names no file; write ${name}=@<file>`);
  return { name, source: { file } };
}

/** `NAME=VALUE` or `NAME=@FILE` for a secret. */
export const secretAssignment: ValueSpec<Assignment> = {
  placeholder: '<NAME=VALUE|NAME=@FILE>',
  parse(raw, label) {
    const at = raw.indexOf('=');
    if (at < 0) throw invalid(`${label} is not NAME=VALUE or NAME=@FILE (no '=')`);
    const name = raw.slice(0, at);
    // Not quoted: a pasted token with '=' padding would otherwise be echoed as a "name".
    if (!SECRET_NAME_PATTERN.test(name)) {
      throw invalid(`${label}: the part before '=' is not ${SECRET_NAME_RULE}`);
    }
    return assignmentOf(raw, label, name);
  },
};

export const secretName: ValueSpec<string> = {
  placeholder: '<NAME>',
  parse(raw, label) {
    if (SECRET_NAME_PATTERN.test(raw)) return raw;
    throw invalid(`${label} is not ${SECRET_NAME_RULE}`);
  },
};

/** `FILE` (named by its base name), `NAME=VALUE` or `NAME=@FILE` for a config file. */
export const configAssignment: ValueSpec<Assignment> = {
  placeholder: '<FILE|NAME=VALUE|NAME=@FILE>',
  parse(raw, label) {
    const at = raw.indexOf('=');
    const named = at > 0 ? raw.slice(0, at) : undefined;
    if (named !== undefined && CONFIG_FILE_PATTERN.test(named)) {
      return assignmentOf(raw, label, named);
    }
    const name = basename(raw);
    if (!CONFIG_FILE_PATTERN.test(name)) {
      throw invalid(
        `${label}: the file '${raw}' would be named ${JSON.stringify(name)}, which is not ${CONFIG_FILE_RULE}; write <name>=@${raw}`,
      );
    }
    return { name, source: { file: raw } };
  },
};

export const configFileName: ValueSpec<string> = {
  placeholder: '<NAME>',
  parse(raw, label) {
    if (CONFIG_FILE_PATTERN.test(raw)) return raw;
    throw invalid(`${label}: ${JSON.stringify(raw.slice(0, 64))} is not ${CONFIG_FILE_RULE}`);
  },
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readText(file: string, name: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw invalid(`cannot read ${file} for ${name}: ${errorMessage(error)}`);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalid(
      `${file} (for ${name}) is not UTF-8 text; values are text, so base64-encode a binary file first`,
    );
  }
}

/** The values, files read; one name given twice is an error. */
export async function valuesOf(
  assignments: readonly Assignment[],
): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const { name, source } of assignments) {
    if (Object.hasOwn(values, name)) throw invalid(`${name} is given more than once`);
    values[name] = 'literal' in source ? source.literal : await readText(source.file, name);
  }
  return values;
}
