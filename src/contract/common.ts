import { z } from 'zod';
import { ID_PATTERN } from '../core/ids.ts';
import { isUnicastIpv4 } from '../core/ipv4.ts';
import { desiredStatuses, instanceStatuses, roles } from '../core/model.ts';
import { MAX_SLEEP_POLICY_SECS } from '../core/sleep-policy.ts';

/**
 * Building blocks for every request field: each string has a maximum length and a character
 * rule, each integer a range, each map and list a maximum size. They are regexes and bounds,
 * not code, so the OpenAPI document generated from the contract states exactly what the
 * server enforces (test/coordinator/request-bounds.test.ts keeps it so).
 */

/** The widest value of a 32-bit integer column (SQLite is wider; Postgres `integer` is not). */
export const MAX_INT32 = 2 ** 31 - 1;

/**
 * A byte count or offset of a transfer (a move bundle's part, an upload's resume point): 64-bit,
 * since a data disk is larger than 2 GiB, and never kept in a 32-bit column. Marked in the
 * published contract (`format: int64`, `x-mvm-byte-count`), the one kind of integer allowed
 * past MAX_INT32 (test/coordinator/unbounded-in.ts).
 */
export function byteCount(max = Number.MAX_SAFE_INTEGER) {
  return z.number().int().min(0).max(max).meta({ format: 'int64', 'x-mvm-byte-count': true });
}

/** An integer from `min` to `max`. */
export function intIn(min: number, max: number) {
  return z.number().int().min(min).max(max);
}

/**
 * Characters no operator should find in a name or message: C0 and C1 controls (NUL, which
 * Postgres refuses, ESC, which starts terminal escapes, DEL) and the bidirectional controls
 * (marks, embeddings, overrides, isolates) that make text display other than it reads.
 */
const BIDI = String.raw`\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069`;
const UNSAFE = String.raw`\u0000-\u001f\u007f-\u009f` + BIDI;
/** The same, but tab, line feed and carriage return are allowed: for multi-line messages. */
const UNSAFE_MULTILINE = String.raw`\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f` + BIDI;
const SAFE_TEXT = new RegExp(`^[^${UNSAFE}]*$`);
const SAFE_MULTILINE = new RegExp(`^[^${UNSAFE_MULTILINE}]*$`);
/** Half of a UTF-16 surrogate pair on its own: not text, and not storable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Free text (a name, a label value): at most `max` characters, none of them unsafe. */
export function safeText(max: number, min = 1) {
  return z
    .string()
    .min(min)
    .max(max)
    .regex(SAFE_TEXT, 'no control characters (NUL, ESC, ...) or bidirectional controls')
    .refine((s) => !LONE_SURROGATE.test(s), 'not valid Unicode text (a lone surrogate)');
}

/** Like safeText, but line breaks and tabs are allowed (error messages, logs). */
export function multilineText(max: number) {
  return z
    .string()
    .max(max)
    .regex(SAFE_MULTILINE, 'no control characters other than line breaks and tabs')
    .refine((s) => !LONE_SURROGATE.test(s), 'not valid Unicode text (a lone surrogate)');
}

/** How much of an instance's failure an agent reports. */
export const MAX_FAILURE_REASON = 2000;

/**
 * Makes any text acceptable to multilineText(max): unsafe characters become U+FFFD. For
 * senders that relay text they did not write (a failing command's output), so the report
 * still goes through.
 */
export function toMultilineText(text: string, max: number): string {
  const unsafe = new RegExp(String.raw`[${UNSAFE_MULTILINE}]|\p{Cs}`, 'gu');
  // Cut first: a pair split at the cut is then a lone surrogate, and replaced like the rest.
  return text.slice(0, max).replace(unsafe, '\ufffd');
}

/**
 * A reference handed to tools (a flake ref, an image revision, an architecture, a host
 * name): printable ASCII without spaces, at most `max` characters.
 */
export function asciiRef(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7e]*$/, 'printable ASCII without spaces or control characters');
}

function hasMoreKeysThan(input: unknown, max: number): boolean {
  if (input === null || typeof input !== 'object') return false;
  let keys = 0;
  for (const key in input) if (Object.hasOwn(input, key) && ++keys > max) return true;
  return false;
}

/**
 * A map of at most `max` entries. The count is checked before any entry, so an oversized map
 * costs one pass over its keys, not a validation (and an error) per entry.
 */
export function boundedRecord<V extends z.ZodType>(key: z.ZodString, value: V, max: number) {
  return z.preprocess(
    (input, ctx) => {
      if (hasMoreKeysThan(input, max)) {
        ctx.issues.push({ code: 'custom', message: `at most ${max} entries`, input });
      }
      return input;
    },
    z.record(key, value).meta({ maxProperties: max }),
  );
}

export const idSchema = z
  .string()
  .max(63)
  .regex(ID_PATTERN, "use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'");

const count = intIn(0, 1_000_000);

/** Where other nodes reach a node (its VXLAN underlay): a unicast dotted quad. */
export const underlayIpSchema = z
  .string()
  .max(15)
  .regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'a dotted IPv4 address like 192.168.1.10')
  .refine(isUnicastIpv4, 'a unicast IPv4 address like 192.168.1.10');

/** A compare-and-set precondition: the version the caller read (versions start at 1). */
export const expectedVersionSchema = intIn(1, MAX_INT32);

export const quotasSchema = z.strictObject({
  maxVcpus: count,
  maxMemMib: count,
  maxRunning: count,
  maxWarm: count,
  maxPools: count,
  maxInstancesPerPool: count,
  maxDiskGib: count,
});
export const partialQuotasSchema = quotasSchema.partial();

export const roleSchema = z.enum(roles);
export const instanceStatusSchema = z.enum(instanceStatuses);
export const desiredStatusSchema = z.enum(desiredStatuses);

export const poolCountsSchema = z.strictObject({
  running: count,
  warm: count,
  sleeping: count,
});

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** A pool's minimum running or warm time, in whole seconds. */
export const sleepPolicySecsSchema = intIn(0, MAX_SLEEP_POLICY_SECS);

/** An http(s) URL such as a coordinator's, without trailing slashes (config and flags). */
export const httpUrlSchema = z
  .string()
  .refine(
    (value) => /^https?:\/\/[^/]/.test(value) && URL.canParse(value),
    'is not an http(s) URL like http://127.0.0.1:7070',
  )
  .transform((value) => value.replace(/\/+$/, ''));
