import fc from 'fast-check';

/**
 * Values a hostile or broken client sends where the contract expects something else: the
 * targeted lists name what broke the coordinator before (issue 10) and what usually breaks
 * servers; the random arbitraries cover what nobody thought of.
 */

const MIB = 1024 * 1024;

export const hostileStrings: readonly string[] = [
  '',
  ' ',
  'a\u0000b',
  '\u0000',
  '\u001b[31mred\u001b[0m',
  '\u001b]0;title\u0007',
  'a\u009bb',
  '\u007f',
  'line\nbreak',
  'tab\there',
  'invoice\u202Eexe.pdf',
  'a\u200Fb',
  '\u2066x\u2069',
  '\ud800',
  'x\udfffy',
  'x'.repeat(64),
  'x'.repeat(254),
  'x'.repeat(2049),
  'x'.repeat(100_000),
  'x'.repeat(1_000_000),
  // Over the limit once encoded as UTF-8 (two bytes each).
  'é'.repeat(600_000),
  "'; DROP TABLE tenants; --",
  '../../../etc/passwd',
  '%00',
  '${jndi:ldap://x/a}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'NaN',
  '1e9',
  '-1',
  'true',
  'null',
  'UPPER',
  'ends-',
  '-starts',
  `${'a'.repeat(63)}b`,
  '🚀',
  '\ufeffbom',
  'a b',
];

export const hostileNumbers: readonly number[] = [
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31) - 1,
  -1,
  0,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  -1e308,
  0.5,
  1.5,
  1e-300,
  4095,
  4096,
  32,
  33,
  128,
  127,
  262_145,
  1_048_577,
];

export const wrongTypes: readonly unknown[] = [
  null,
  true,
  false,
  [],
  {},
  [1, 'a'],
  { a: 1 },
  '1',
  1,
];

/** `[[[…]]]` `depth` levels deep. */
export function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

const unicodeString = fc.string({ unit: 'binary', maxLength: 40 });
const asciiString = fc.string({ unit: 'binary-ascii', maxLength: 40 });

/** Any JSON value a field could be given instead of the right one. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...hostileStrings), weight: 4 },
  { arbitrary: fc.constantFrom(...hostileNumbers), weight: 3 },
  { arbitrary: fc.constantFrom(...wrongTypes), weight: 2 },
  { arbitrary: unicodeString, weight: 2 },
  { arbitrary: asciiString, weight: 1 },
  { arbitrary: fc.maxSafeInteger(), weight: 1 },
  { arbitrary: fc.double({ noNaN: true }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
  { arbitrary: fc.integer({ min: 50, max: 3000 }).map(nested), weight: 1 },
);

/** A path or query value: text only, as the URL carries it. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...hostileStrings.filter((s) => s.length < 10_000)), weight: 4 },
  { arbitrary: fc.constantFrom(...hostileNumbers.map(String)), weight: 2 },
  { arbitrary: unicodeString, weight: 2 },
  { arbitrary: asciiString, weight: 1 },
);

/** Percent-encodings that do not decode, sent as they are. */
export const brokenEscapes: readonly string[] = ['%', '%FF', '%zz', '%E0%A4%A', '%C0%80', '%u0000'];

/** A field name a client should not get away with. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('extra', '__proto__', 'constructor', 'a\u0000', '', 'x'.repeat(10_000)),
  unicodeString,
);

/** Whole bodies that are not what a JSON API takes. */
export const rawBodies: ReadonlyArray<[string, string, string]> = [
  ['truncated JSON', '{"id": "x",', 'application/json'],
  ['not JSON', 'id=x&netId=1', 'application/x-www-form-urlencoded'],
  ['XML', '<tenant id="x"/>', 'application/xml'],
  ['trailing garbage', '{"id":"x"} {"id":"y"}', 'application/json'],
  ['NUL byte', '{"id":"x\u0000"}', 'text/plain'],
  ['bare string', '"x"', 'application/json'],
  ['number', '12', 'application/json'],
  ['null', 'null', 'application/json'],
  ['array', '[{"id":"x"}]', 'application/json'],
  ['deep arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'application/json'],
  ['deep objects', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`, 'application/json'],
  ['over the limit', `{"p":"${'x'.repeat(MIB + 10)}"}`, 'application/json'],
  ['invalid UTF-8', '\u00ff\u00fe{"id":"x"}', 'application/json'],
  ['lone surrogate escape', '{"id":"\\ud800"}', 'application/json'],
  ['duplicate keys', '{"id":"a","id":"b"}', 'application/json'],
];
