import { ValidationError } from '../../../core/errors.ts';
import type { ValueSpec } from '../../values.ts';

/** A command's word, passed on exactly as given (it may be empty, or start with '-'). */
export const word = (placeholder: string): ValueSpec<string> => ({
  placeholder,
  parse: (raw) => raw,
});

/** `NAME=value`: one variable of the command's environment. */
export const envPair: ValueSpec<readonly [string, string]> = {
  placeholder: '<NAME=value>',
  parse(raw, label) {
    const at = raw.indexOf('=');
    const name = at < 0 ? '' : raw.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      const problem = `${label} '${raw}' is not NAME=value with a variable name like PATH`;
      throw new ValidationError(problem, [problem]);
    }
    return [name, raw.slice(at + 1)] as const;
  },
};

/** An absolute path in the guest. */
export const guestPath: ValueSpec<string> = {
  placeholder: '<dir>',
  parse(raw, label) {
    if (raw.startsWith('/')) return raw;
    const problem = `${label} '${raw}' must be an absolute path in the guest, like /srv/app`;
    throw new ValidationError(problem, [problem]);
  },
};

export const envOf = (pairs: ReadonlyArray<readonly [string, string]> | undefined) =>
  pairs !== undefined && pairs.length > 0 ? Object.fromEntries(pairs) : undefined;
