import fc from 'fast-check';
import { bodyLimitOf, routes, type RouteDef, type RouteName } from '../../../src/contract/api.ts';
import type { RouteInput } from './fuzz-app.ts';
import {
  brokenEscapes,
  hostileKey,
  hostileText,
  hostileValue,
  rawBodies,
} from './hostile-values.ts';

/**
 * One request of the fuzz: a route's valid input with one thing made hostile. Path and query
 * values are either text (percent-encoded on the way) or raw escapes sent as they are; the
 * body is JSON, raw text with a content type, or a stream sent chunked.
 */
export interface UrlValue {
  text: string;
  raw?: true;
}

export type FuzzBody =
  | { kind: 'json'; value: unknown }
  /** `latin1`: each character is one byte, for bytes that are not UTF-8. */
  | { kind: 'raw'; text: string; contentType: string; latin1?: true }
  | { kind: 'chunked'; value: unknown; padTo?: number };

export interface FuzzRequest {
  route: RouteName;
  what: string;
  params: Record<string, UrlValue>;
  query: Record<string, UrlValue>;
  body?: FuzzBody;
}

type Path = Array<string | number>;

/** Every place in a JSON value a mutation can reach: each member and element, recursively. */
export function pathsIn(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => [[...prefix, i], ...pathsIn(item, [...prefix, i])]);
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => [
      [...prefix, key],
      ...pathsIn(item, [...prefix, key]),
    ]);
  }
  return [];
}

function objectsIn(value: unknown): Path[] {
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const nested = pathsIn(value).filter((path) => isObject(lookup(value, path)));
  return isObject(value) ? [[], ...nested] : nested;
}

function lookup(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, key) => (v as Record<string | number, unknown>)[key], value);
}

/** A copy of `value` with the member at `path` replaced (or removed, for undefined). */
function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  const copy = structuredClone(value);
  const parent = lookup(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1] as string | number;
  if (replacement === undefined) delete parent[key];
  // A key named __proto__ must become an own member, as JSON.parse would make it.
  else Object.defineProperty(parent, key, { value: replacement, enumerable: true, writable: true });
  return copy;
}

const texts = (values: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { text: v }]));

const urlValue: fc.Arbitrary<UrlValue> = fc.oneof(
  { arbitrary: hostileText.map((text) => ({ text })), weight: 5 },
  {
    arbitrary: fc.constantFrom(...brokenEscapes).map((text) => ({ text, raw: true as const })),
    weight: 1,
  },
);

function bodyMutations(def: RouteDef, input: RouteInput): Array<fc.Arbitrary<[string, FuzzBody]>> {
  const body = input.body ?? {};
  const json = (value: unknown): FuzzBody => ({ kind: 'json', value });
  const paths = pathsIn(body);
  const out: Array<fc.Arbitrary<[string, FuzzBody]>> = [
    fc
      .constantFrom(...rawBodies)
      .map(([what, text, contentType]) => [
        `raw body: ${what}`,
        { kind: 'raw', text, contentType, ...(what === 'invalid UTF-8' ? { latin1: true } : {}) },
      ]),
    hostileValue.map((value) => ['whole body replaced', json(value)]),
    fc
      .tuple(fc.constantFrom(...objectsIn(body)), hostileKey, hostileValue)
      .map(([path, key, value]) => [
        `extra field ${key.slice(0, 20)} at ${path.join('.')}`,
        json(setAt(body, [...path, key], value)),
      ]),
    fc.constantFrom<[string, FuzzBody]>(
      ['the valid body, chunked', { kind: 'chunked', value: body }],
      ['an oversized body, chunked', { kind: 'chunked', value: body, padTo: bodyLimitOf(def) + 1 }],
      [
        'the valid body as text/plain',
        { kind: 'raw', text: JSON.stringify(body), contentType: 'text/plain' },
      ],
    ),
  ];
  if (paths.length > 0) {
    out.push(
      fc
        .tuple(fc.constantFrom(...paths), hostileValue)
        .map(([path, value]) => [`${path.join('.')} = hostile`, json(setAt(body, path, value))]),
      fc
        .constantFrom(...paths)
        .map((path) => [`${path.join('.')} removed`, json(setAt(body, path, undefined))]),
    );
  }
  return out;
}

/** Hostile variants of one route's valid input, one thing changed at a time. */
export function fuzzRequests(route: RouteName, input: RouteInput): fc.Arbitrary<FuzzRequest> {
  const def: RouteDef = routes[route];
  const base = { route, params: texts(input.params), query: texts(input.query) };
  const variants: Array<fc.Arbitrary<FuzzRequest>> = [];
  const withBody = def.body ? { body: { kind: 'json', value: input.body ?? {} } as FuzzBody } : {};
  const paramNames = Object.keys(input.params ?? {});
  if (paramNames.length > 0) {
    variants.push(
      fc.tuple(fc.constantFrom(...paramNames), urlValue).map(([name, value]) => ({
        ...base,
        ...withBody,
        what: `path ${name} = hostile`,
        params: { ...base.params, [name]: value },
      })),
    );
  }
  const queryNames = [...Object.keys(input.query ?? {}), 'extra'];
  variants.push(
    fc.tuple(fc.constantFrom(...queryNames), urlValue).map(([name, value]) => ({
      ...base,
      ...withBody,
      what: `query ${name} = hostile`,
      query: { ...base.query, [name]: value },
    })),
  );
  if (def.body) {
    for (const mutation of bodyMutations(def, input)) {
      variants.push(mutation.map(([what, body]) => ({ ...base, what, body })));
    }
  }
  return fc.oneof(...variants);
}

/** Byte length of a body as it goes on the wire. */
export function bodyBytes(body: FuzzBody | undefined): number {
  if (body === undefined) return 0;
  if (body.kind === 'raw') return rawBytes(body).length;
  const text = JSON.stringify(body.value) ?? '';
  return Math.max(Buffer.byteLength(text), body.kind === 'chunked' ? (body.padTo ?? 0) : 0);
}

export function rawBytes(body: Extract<FuzzBody, { kind: 'raw' }>): Buffer {
  return Buffer.from(body.text, body.latin1 ? 'latin1' : 'utf8');
}

/** What every field gets on every run: one value of each kind that once broke a server. */
const sweepValues: readonly unknown[] = [
  'a\u0000b',
  '\u001b[31m',
  'x'.repeat(100_000),
  2 ** 31,
  -1,
  1.5,
  null,
];
const sweepTexts: readonly string[] = [
  'a\u0000b',
  'x'.repeat(5_000),
  '2147483648',
  '-1',
  '1.5',
  '',
];

/**
 * The deterministic part of the fuzz: every path parameter, query parameter and body field
 * (at any depth) with each sweep value, and every body in each structural variant.
 */
export function sweepRequests(route: RouteName, input: RouteInput): FuzzRequest[] {
  const def: RouteDef = routes[route];
  const base = { route, params: texts(input.params), query: texts(input.query) };
  const body = input.body ?? {};
  const withBody = def.body ? { body: { kind: 'json', value: body } as FuzzBody } : {};
  const out: FuzzRequest[] = [];
  for (const [where, values] of [
    ['params', input.params],
    ['query', input.query],
  ] as const) {
    for (const name of Object.keys(values ?? {})) {
      for (const text of sweepTexts) {
        const changed = { ...base[where], [name]: { text } };
        out.push({
          ...base,
          ...withBody,
          [where]: changed,
          what: `${where} ${name} = ${text.slice(0, 12)}`,
        });
      }
    }
  }
  if (!def.body) return out;
  for (const path of pathsIn(body)) {
    for (const value of sweepValues) {
      const what = `${path.join('.')} = ${JSON.stringify(value)?.slice(0, 12)}`;
      out.push({ ...base, what, body: { kind: 'json', value: setAt(body, path, value) } });
    }
  }
  for (const [what, text, contentType] of rawBodies) {
    const latin1 = what === 'invalid UTF-8' ? { latin1: true as const } : {};
    out.push({
      ...base,
      what: `raw body: ${what}`,
      body: { kind: 'raw', text, contentType, ...latin1 },
    });
  }
  out.push(
    { ...base, what: 'the valid body, chunked', body: { kind: 'chunked', value: body } },
    {
      ...base,
      what: 'an oversized body, chunked',
      body: { kind: 'chunked', value: body, padTo: bodyLimitOf(def) + 1 },
    },
  );
  return out;
}
