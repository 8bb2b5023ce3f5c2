/**
 * An agent validates only the tenants of a document that differ from the previous one's
 * (agent/desired/validated-tenants.ts): on random sequences of documents, valid and not, a
 * verification that reuses kept tenants accepts and refuses exactly what a full one does, with
 * the same document and the same message, and validates only the changed tenants.
 */
import { describe, expect, it } from 'vitest';
import { sameJson, ValidatedTenants } from '../../src/agent/desired/validated-tenants.ts';
import {
  DesiredRefusedError,
  verifyEnvelope,
  type VerifyOptions,
} from '../../src/agent/desired/verify-desired.ts';
import type { SignedEnvelope } from '../../src/contract/desired.ts';
import { ephemeralSigningKey } from '../../src/coordinator/desired/signing-key.ts';
import { canonicalJson } from '../../src/core/desired-doc.ts';

const key = ephemeralSigningKey();
const options: VerifyOptions = {
  trustedKeys: [key.publicKeyPem],
  lastGeneration: 0,
  production: true,
  nodeId: 'node-1',
};

/** A seeded generator, so a failure is reproducible. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
}

/** As random, from the state's high bits: the low bits of an LCG repeat in short cycles. */
function mixed(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((state / 2 ** 31) * n);
  };
}

type Json = Record<string, unknown>;

function instance(t: number, i: number, status = 'running'): Json {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    desiredStatus: status,
    id: `i${i}`,
    ip: `10.240.${t}.${i + 2}`,
    mac: `02:6d:76:00:${hex(t)}:${hex(i + 2)}`,
  };
}

function tenant(t: number, instances: number): Json {
  return {
    egress: false,
    gateway: `10.240.${t}.1`,
    id: `t${t.toString().padStart(3, '0')}`,
    netId: t,
    pools: [
      {
        config: t % 3 === 0 ? { files: { MODE: 'edge' }, version: 1 } : null,
        critical: false,
        dataDiskMib: 1024,
        flake: '.',
        id: 'web',
        instances: Array.from({ length: instances }, (_, i) => instance(t, i)),
        memMib: 256,
        pinned: false,
        profile: 'minimal',
        revision: null,
        role: 'worker',
        secretsDigest: null,
        vcpus: 1,
      },
    ],
    subnet: `10.240.${t}.0/24`,
    vxlanPeers: t % 2 === 0 ? ['192.0.2.2'] : [],
  };
}

/** One random change to a tenant: most keep it valid, some break it. */
const changes: Array<(t: Json, pick: (n: number) => number) => void> = [
  (t, pick) => {
    const pool = (t.pools as Json[])[0] as Json;
    const instances = pool.instances as Json[];
    const i = instances[pick(instances.length)] as Json;
    i.desiredStatus = i.desiredStatus === 'running' ? 'warm' : 'running';
  },
  (t) => {
    const pool = (t.pools as Json[])[0] as Json;
    (pool.instances as Json[]).push(instance(Number(t.netId), (pool.instances as Json[]).length));
  },
  (t) => {
    t.vxlanPeers = [...(t.vxlanPeers as string[]), '192.0.2.9'];
  },
  (t) => {
    const pool = (t.pools as Json[])[0] as Json;
    delete pool.secretsDigest; // defaults to null: valid
  },
  (t) => {
    const pool = (t.pools as Json[])[0] as Json;
    ((pool.instances as Json[])[0] as Json).mac = 'not-a-mac'; // invalid
  },
  (t) => {
    t.extra = 1; // invalid: unknown member
  },
  (t) => {
    t.netId = Number(t.netId) + 1000;
  },
];

function sign(doc: Json): SignedEnvelope {
  const payload = canonicalJson(doc);
  return { payload, signature: key.sign(payload), keyId: key.keyId };
}

function outcome(envelope: SignedEnvelope, kept?: ValidatedTenants) {
  try {
    return {
      document: verifyEnvelope(envelope, { ...options, ...(kept ? { tenants: kept } : {}) })
        .document,
    };
  } catch (error) {
    if (error instanceof DesiredRefusedError) return { refused: error.message };
    throw error;
  }
}

describe('validated tenants', () => {
  it('accepts and refuses what a full validation does, validating only changed tenants', () => {
    for (const seed of [1, 2, 3]) {
      const pick = random(seed);
      const kept = new ValidatedTenants();
      let tenants = Array.from({ length: 40 }, (_, t) => tenant(t + 1, 1 + pick(4)));
      let previous: Json[] | undefined;
      let refusals = 0;
      for (let round = 0; round < 60; round += 1) {
        const next = structuredClone(tenants);
        const changed = new Set<number>();
        for (let n = 0; n < 1 + pick(3); n += 1) {
          const at = pick(next.length);
          (changes[pick(changes.length)] as (t: Json, p: typeof pick) => void)(
            next[at] as Json,
            pick,
          );
          changed.add(at);
        }
        if (pick(10) === 0) next.splice(pick(next.length), 1);
        const doc = {
          generation: round + 1,
          issuedAt: '2026-01-01T00:00:00.000Z',
          nodeId: 'node-1',
          schema: 'mvm.node-desired/v1',
          tenants: next,
        };
        const envelope = sign(doc);
        const full = outcome(envelope);
        const reusing = outcome(envelope, kept);
        expect(reusing).toEqual(full);
        if ('refused' in full) {
          refusals += 1;
          continue;
        }
        // Only the tenants that differ from the previous accepted document were validated.
        const before = new Map((previous ?? []).map((t) => [t.id, canonicalJson(t)]));
        const same = next.filter((t) => before.get(t.id) === canonicalJson(t)).length;
        expect(kept.last.reused).toBe(same);
        expect(kept.last.validated).toBe(next.length - same);
        // Canonical payloads: read by their tenants' texts, not parsed whole.
        expect(kept.last.byTexts).toBe(true);
        if (previous) expect(kept.last.validated).toBeLessThan(next.length);
        previous = next;
        tenants = next;
      }
      // The sequence had both outcomes.
      expect(refusals).toBeGreaterThan(0);
      expect(refusals).toBeLessThan(60);
    }
  });

  it('reads texts laid out otherwise as a whole parse does', () => {
    // Edits to the payload's text (whitespace, brackets, quotes, escapes, commas, tenants'
    // texts repeated, dropped or swapped, members after the tenants), signed again: reading
    // by tenant texts accepts and refuses exactly what parsing the payload whole does.
    const marks = [' ', '\n', '{', '}', '[', ']', ',', '"', '\\', ':', '0', 'x', '"},{"'];
    for (const seed of [4, 5, 6]) {
      const pick = mixed(seed);
      const kept = new ValidatedTenants();
      let tenants = Array.from({ length: 12 }, (_, t) => tenant(t + 1, 1 + pick(3)));
      let byTexts = 0;
      let accepted = 0;
      for (let round = 0; round < 300; round += 1) {
        const next = structuredClone(tenants);
        if (pick(2) === 0) {
          const at = pick(next.length);
          (changes[pick(changes.length)] as (t: Json, p: typeof pick) => void)(
            next[at] as Json,
            pick,
          );
        }
        const doc = {
          generation: round + 1,
          issuedAt: '2026-01-01T00:00:00.000Z',
          nodeId: 'node-1',
          schema: 'mvm.node-desired/v1',
          tenants: next,
        };
        const texts = next.map((t) => canonicalJson(t));
        const head = canonicalJson({ ...doc, tenants: [] }).slice(0, -2);
        let payload = `${head}${texts.join(',')}]}`;
        switch (pick(6)) {
          case 0: // one character in, anywhere
            {
              const at = pick(payload.length + 1);
              const mark = marks[pick(marks.length)] as string;
              payload = payload.slice(0, at) + mark + payload.slice(at);
            }
            break;
          case 1: // one character out
            {
              const at = pick(payload.length);
              payload = payload.slice(0, at) + payload.slice(at + 1);
            }
            break;
          case 2: // a tenant's text twice, or one left out, or two swapped
            {
              const edited = [...texts];
              const at = pick(edited.length);
              const other = pick(edited.length);
              const kind = pick(3);
              if (kind === 0) edited.splice(at, 0, edited[at] as string);
              else if (kind === 1) edited.splice(at, 1);
              else [edited[at], edited[other]] = [edited[other] as string, edited[at] as string];
              payload = `${head}${edited.join(',')}]}`;
            }
            break;
          case 3: // members after the tenants, or text after the document
            payload =
              pick(2) === 0
                ? `${payload.slice(0, -1)},"tenants":[]}`
                : `${payload}${marks[pick(marks.length)] ?? ''}`;
            break;
          default: // as the coordinator writes it
        }
        const envelope = { payload, signature: key.sign(payload), keyId: key.keyId };
        const full = outcome(envelope);
        const reusing = outcome(envelope, kept);
        expect(reusing, `seed ${seed} round ${round}`).toEqual(full);
        if (full.document) {
          accepted += 1;
          if (kept.last.byTexts) byTexts += 1;
          // The next round changes what this one accepted (tenants dropped or repeated too).
          const got = full.document.tenants as unknown as Json[];
          if (got.length > 0) tenants = got;
        }
      }
      // Both readings were taken, and some edits were refused.
      expect(byTexts).toBeGreaterThan(50);
      expect(accepted - byTexts).toBeGreaterThan(0);
      expect(accepted).toBeLessThan(300);
    }
  });

  it('refuses a kept tenant made invalid, with the full validation message', () => {
    const kept = new ValidatedTenants();
    const doc = {
      generation: 1,
      issuedAt: '2026-01-01T00:00:00.000Z',
      nodeId: 'node-1',
      schema: 'mvm.node-desired/v1',
      tenants: [tenant(1, 2), tenant(2, 2)],
    };
    expect(outcome(sign(doc), kept)).toHaveProperty('document');
    const broken = structuredClone(doc);
    (((broken.tenants[1] as Json).pools as Json[])[0] as Json).instances = [
      { ...instance(2, 0), ip: 'nowhere' },
    ];
    const refused = outcome(sign(broken), kept);
    expect(refused).toEqual(outcome(sign(broken)));
    expect(refused).toHaveProperty(
      'refused',
      expect.stringContaining('tenants.1.pools.0.instances.0.ip'),
    );
    // A tampered payload is refused by its signature before anything is parsed or reused.
    const good = sign(doc);
    const tampered = { ...good, payload: good.payload.replace('"running"', '"destroyed"') };
    expect(() => verifyEnvelope(tampered, { ...options, tenants: kept })).toThrow(/signature/);
  });

  it('compares JSON values member by member', () => {
    expect(sameJson({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameJson({ a: undefined }, { b: undefined })).toBe(false);
    expect(sameJson(0, -0)).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson({}, [])).toBe(false);
    expect(sameJson('1', 1)).toBe(false);
    expect(sameJson({ a: { b: 'x' } }, { a: { b: 'y' } })).toBe(false);
  });
});
