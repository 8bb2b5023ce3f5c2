import { isMvmError, ValidationError } from '../core/errors.ts';
import { idProblem, parseInstancePath, parsePoolPath } from '../core/ids.ts';
import { isUnicastIpv4 } from '../core/ipv4.ts';
import type { InstanceRef, PoolRef } from '../core/ids.ts';

/**
 * How one command-line word becomes a typed value. `parse` throws ValidationError; callers
 * collect every problem before reporting, so an operator fixes a command line in one go.
 */
export interface ValueSpec<T> {
  /** Shown in help and completions, e.g. `<n>`. */
  placeholder: string;
  parse(raw: string, label: string): T;
  /** Fixed set of accepted words, offered by shell completion. */
  choices?: readonly string[];
}

function invalid(problem: string): ValidationError {
  return new ValidationError(problem, [problem]);
}

export const text = (placeholder = '<text>'): ValueSpec<string> => ({
  placeholder,
  parse(raw, label) {
    if (raw.trim() === '') throw invalid(`${label} must not be empty`);
    return raw;
  },
});

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** Strict: `2x`, `1e3`, `0x10`, `-1` and `2.5` are all refused rather than half-parsed. */
export const integer = (min = 0, max = 1_000_000): ValueSpec<number> => ({
  placeholder: '<n>',
  parse(raw, label) {
    if (!DECIMAL.test(raw))
      throw invalid(`${label} '${raw}' is not a whole number; write digits only, like 2`);
    const value = Number(raw);
    if (value < min || value > max)
      throw invalid(`${label} ${value} is out of range; use ${min}-${max}`);
    return value;
  },
});

export const id = (kind: string): ValueSpec<string> => ({
  placeholder: `<${kind}>`,
  parse(raw) {
    const problem = idProblem(kind, raw);
    if (problem) throw invalid(problem);
    return raw;
  },
});

/** A host address other hosts can reach: a unicast dotted quad. */
export const unicastIpv4: ValueSpec<string> = {
  placeholder: '<ipv4>',
  parse(raw, label) {
    if (!isUnicastIpv4(raw))
      throw invalid(`${label} '${raw}' is not a unicast IPv4 address; write one like 10.0.0.5`);
    return raw;
  },
};

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `15m`, `1h`, `2d`, in seconds. */
export const duration: ValueSpec<number> = {
  placeholder: '<duration>',
  parse(raw, label) {
    const match = /^([1-9][0-9]{0,9})([smhd])$/.exec(raw);
    const unit = match?.[2] === undefined ? undefined : UNIT_SECONDS[match[2]];
    if (match?.[1] === undefined || unit === undefined) {
      throw invalid(
        `${label} '${raw}' is not a duration; write a number and a unit (s, m, h, d), like 1h`,
      );
    }
    return Number(match[1]) * unit;
  },
};

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** A point in time with its zone, e.g. `2027-01-31T18:00:00Z`; normalised to UTC. */
export const isoTime: ValueSpec<string> = {
  placeholder: '<iso-time>',
  parse(raw, label) {
    const ms = ISO_TIME.test(raw) ? Date.parse(raw) : Number.NaN;
    if (Number.isNaN(ms)) {
      throw invalid(
        `${label} '${raw}' is not a time; write ISO 8601 with a zone, like 2027-01-31T18:00:00Z`,
      );
    }
    return new Date(ms).toISOString();
  },
};

export const poolPath: ValueSpec<PoolRef> = {
  placeholder: '<tenant/pool>',
  parse: (raw) => parsePoolPath(raw),
};

export const instancePath: ValueSpec<InstanceRef> = {
  placeholder: '<tenant/pool/instance>',
  parse: (raw) => parseInstancePath(raw),
};

export function choice<const T extends string>(
  values: readonly T[],
  placeholder: string,
): ValueSpec<T> {
  return {
    placeholder,
    choices: values,
    parse(raw, label) {
      const found = values.find((value) => value === raw);
      if (found === undefined)
        throw invalid(`${label} '${raw}' is not one of: ${values.join(', ')}`);
      return found;
    },
  };
}

/** Runs one parse, turning a ValidationError into problem lines instead of throwing. */
export function tryParse<T>(
  spec: ValueSpec<T>,
  raw: string,
  label: string,
  problems: string[],
): T | undefined {
  try {
    return spec.parse(raw, label);
  } catch (error) {
    if (!isMvmError(error) || error.code !== 'invalid_argument') throw error;
    const listed = error instanceof ValidationError ? error.problems : [];
    problems.push(...(listed.length > 0 ? listed : [error.message]));
    return undefined;
  }
}
