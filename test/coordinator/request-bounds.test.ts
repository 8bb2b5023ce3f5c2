import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_INT32, multilineText, safeText, toMultilineText } from '../../src/contract/common.ts';
import { poolLimits } from '../../src/core/pool-spec.ts';
import { MAX_NET_ID } from '../../src/core/subnets.ts';
import { buildOpenApi } from '../../src/coordinator/openapi.ts';
import { unboundedIn } from './unbounded-in.ts';

/**
 * The guard against unbounded input: every string a request may carry (path, query, body,
 * at any depth) has a maximum length and a character rule, every integer a range a 32-bit
 * column holds, every list and map a maximum size. Read from the published OpenAPI
 * document, so what clients are told is what is checked; a new field without limits fails.
 */
type Json = Record<string, unknown>;

interface Operation {
  operationId: string;
  parameters: Array<{ name: string; in: string; schema: unknown }>;
  requestBody?: {
    content: {
      'application/json'?: { schema: unknown };
      'application/octet-stream'?: { schema: { maxLength?: number } };
    };
  };
}

function operations(): Operation[] {
  const doc = buildOpenApi('test') as { paths: Record<string, Record<string, Operation>> };
  return Object.values(doc.paths).flatMap((methods) => Object.values(methods));
}

function requestSchema(operationId: string): Json {
  const op = operations().find((o) => o.operationId === operationId);
  return (op?.requestBody?.content['application/json']?.schema ?? {}) as Json;
}

function at(schema: Json, path: string): Json {
  return path.split('.').reduce<Json>((s, name) => (s.properties as Json)[name] as Json, schema);
}

describe('request limits in the published contract', () => {
  it('bounds every string, integer, list and map of every request', () => {
    const problems = operations().flatMap((op) => [
      ...op.parameters.flatMap((p) => unboundedIn(p.schema, `${op.operationId} ${p.in} ${p.name}`)),
      ...(op.requestBody?.content['application/json']
        ? unboundedIn(op.requestBody.content['application/json'].schema, `${op.operationId} body`)
        : []),
      // A byte body (an upload) is bounded by its length.
      ...(op.requestBody?.content['application/octet-stream'] &&
      op.requestBody.content['application/octet-stream'].schema.maxLength === undefined
        ? [`${op.operationId} body: bytes without maxLength`]
        : []),
    ]);
    expect(problems).toEqual([]);
  });

  it('bounds every message a client may send on a session socket', () => {
    const doc = buildOpenApi('test') as {
      paths: Record<string, Record<string, { 'x-mvm-websocket'?: { client: unknown } }>>;
    };
    const exec = doc.paths['/v1/tenants/{tenant}/pools/{pool}/instances/{instance}/exec']?.get;
    expect(exec?.['x-mvm-websocket']).toBeDefined();
    expect(unboundedIn(exec?.['x-mvm-websocket']?.client, 'execInstance message')).toEqual([]);
  });

  it('the guard itself catches each kind of unbounded field', () => {
    const loose = z.object({
      name: z.string(),
      short: z.string().max(3),
      big: z.number().int(),
      ratio: z.number(),
      list: z.array(safeText(5)),
      map: z.record(z.string(), safeText(5)),
      anything: z.unknown(),
    });
    const schema = z.toJSONSchema(loose, { io: 'input', unrepresentable: 'any' });
    expect(unboundedIn(schema, 'x')).toEqual([
      'x.name: string without maxLength',
      'x.name: string without a character rule (pattern)',
      'x.short: string without a character rule (pattern)',
      'x.big: integer range -9007199254740991..9007199254740991 is wider than a 32-bit column',
      'x.ratio: a non-integer number',
      'x.list: array without maxItems',
      'x.map: map without maxProperties',
      'x.map{key}: string without maxLength',
      'x.map{key}: string without a character rule (pattern)',
      'x.anything: unconstrained value (type undefined)',
    ]);
  });

  it('states exactly the limits the server enforces', () => {
    const pool = requestSchema('createPool');
    for (const field of ['vcpus', 'memMib', 'dataDiskMib'] as const) {
      const { minimum, maximum } = at(pool, field);
      expect({ field, minimum, maximum }).toEqual({ field, ...renamed(poolLimits[field]) });
    }
    expect(at(requestSchema('createTenant'), 'netId')).toMatchObject({
      minimum: 0,
      maximum: MAX_NET_ID,
    });
    expect(at(requestSchema('updateTenant'), 'expectedVersion')).toMatchObject({
      maximum: MAX_INT32,
    });
    expect(at(requestSchema('registerNode'), 'capacity.vcpus')).toMatchObject({
      maximum: MAX_INT32,
    });
    expect(at(requestSchema('registerNode'), 'labels')).toMatchObject({ maxProperties: 64 });
  });
});

function renamed(range: { min: number; max: number }) {
  return { minimum: range.min, maximum: range.max };
}

describe('text rules', () => {
  const name = safeText(100);
  it.each([
    ['NUL', 'a\u0000b'],
    ['ESC', '\u001b[31mred'],
    ['DEL', 'a\u007f'],
    ['C1 CSI', 'a\u009b1m'],
    ['right-to-left override', 'invoice\u202Eexe.pdf'],
    ['right-to-left mark', 'a\u200Fb'],
    ['first-strong isolate', 'a\u2068b'],
    ['line feed', 'a\nb'],
    ['lone surrogate', 'a\ud800b'],
    ['too long', 'x'.repeat(101)],
    ['empty', ''],
  ])('safe text refuses %s', (_, text) => {
    expect(name.safeParse(text).success).toBe(false);
  });

  it('safe text takes names in any script, with spaces and emoji', () => {
    for (const text of ['ci deploy', 'déploiement', 'развёртывание', 'בדיקה', '部署 🚀']) {
      expect(name.safeParse(text).success).toBe(true);
    }
  });

  it('relayed text is defanged to what the contract takes, cut to its length', () => {
    const raw = `boot failed:\n\tqemu: \u001b[31merror\u001b[0m\u0000 \u202E${'x'.repeat(3000)}\ud83d`;
    const relayed = toMultilineText(raw, 2000);
    expect(relayed.length).toBeLessThanOrEqual(2000);
    expect(relayed.startsWith('boot failed:\n\tqemu: \ufffd[31merror\ufffd[0m\ufffd \ufffd')).toBe(
      true,
    );
    expect(multilineText(2000).safeParse(relayed).success).toBe(true);
    // A pair cut in half at the limit is replaced, not left as half a character.
    const cut = toMultilineText(`${'x'.repeat(1999)}🚀`, 2000);
    expect([cut.length, cut.endsWith('\ufffd')]).toEqual([2000, true]);
    expect(multilineText(2000).safeParse(cut).success).toBe(true);
  });
});
