import { expect, it } from 'vitest';
import {
  buildNodeDocument,
  canonicalJson,
  documentContent,
  type TenantNetworkInfo,
} from '../../src/core/desired-doc.ts';
import type { Instance, Pool } from '../../src/core/model.ts';

/** canonicalJson as it was: every object copied with its keys sorted, then stringified. */
function reference(value: unknown): string {
  const normalize = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(normalize);
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return Object.fromEntries(entries.map(([k, x]) => [k, normalize(x)]));
    }
    return v;
  };
  return JSON.stringify(normalize(value));
}

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function value(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 4 : 7));
  const keys = ['b', 'a', 'Z', '10', '9', 'aa', 'é', ''];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return Math.floor(next() * 1e6) / 100;
    case 3:
      return `s"${Math.floor(next() * 100)}\n`;
    case 4:
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    case 5: {
      // Keys already in order, sometimes: the path that returns the object itself.
      const chosen = keys.filter(() => next() < 0.4);
      if (next() < 0.5) chosen.sort();
      const out: Record<string, unknown> = {};
      for (const k of chosen) out[k] = value(next, depth + 1);
      return out;
    }
    default: {
      const out: Record<string, unknown> = {};
      for (const k of [...keys].sort()) {
        if (next() < 0.4) out[k] = next() < 0.2 ? undefined : value(next, depth + 1);
      }
      return out;
    }
  }
}

it('serializes as the copying implementation did, for 2,000 random values', () => {
  for (let seed = 1; seed <= 2000; seed += 1) {
    const v = value(random(seed), 0);
    expect(canonicalJson(v), `seed ${seed}`).toBe(reference(v));
  }
  expect(canonicalJson(new Date(0))).toBe(reference(new Date(0)));
  expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
});

it('builds documents whose members are already in canonical order', () => {
  const tenants: TenantNetworkInfo[] = [
    { id: 't1', netId: 11, subnet: '10.240.11.0/24', gateway: '10.240.11.1', egress: true },
  ];
  const pool = {
    tenantId: 't1',
    id: 'web',
    role: 'worker',
    flake: '.',
    profile: 'minimal',
    revision: 'r1',
    vcpus: 1,
    memMib: 256,
    dataDiskMib: 0,
    pinned: false,
    critical: true,
    servicePorts: [8080],
    publish: [{ port: 443, target: 8443 }],
    hooks: { preSleep: 'sync' },
  } as unknown as Pool;
  const instance = (id: string, desiredStatus: string, extra: Partial<Instance> = {}) =>
    ({
      tenantId: 't1',
      poolId: 'web',
      id,
      ip: '10.240.11.2',
      mac: '02:00:00:00:00:01',
      status: 'running',
      desiredStatus,
      nodeId: 'n1',
      ...extra,
    }) as Instance;
  const doc = buildNodeDocument(
    'n1',
    tenants,
    [pool],
    [
      instance('web-b', 'sleeping', { sleepForced: true, pinnedRevision: 'r0' }),
      instance('web-a', 'running'),
    ],
    { generation: 3, issuedAt: 'now' },
    new Map([['t1', ['192.0.2.2']]]),
    new Map([['t1/web', { secretsDigest: 'abc', config: { version: 2, files: { A: '1' } } }]]),
    new Map([['t1/web/web-a', 'req-1']]),
  );
  const content = { nodeId: doc.nodeId, schema: doc.schema, tenants: doc.tenants };
  // No member out of order: the plain serialization is already the canonical one.
  expect(JSON.stringify(content)).toBe(documentContent(doc));
  expect(documentContent(doc)).toBe(reference(content));
});
