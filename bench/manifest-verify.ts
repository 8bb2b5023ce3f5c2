/**
 * One agent's handling of a manifest answer (contract/desired.ts, desiredManifestSchema),
 * replayed through the agent's code: the API client's read of the answer (its JSON parse and
 * response check, through `createApiClient` with a fetch that answers the recorded text),
 * `verifyManifest` with the tenants held as a watch holds them, the held tenants kept for the
 * next one, and the document written as the agent keeps it (DesiredFileStore, then the mark
 * file), each timed, and the parts of the first two timed alone. The answer is one recorded
 * by `bench/acting-breakdown.ts --record` on fleet-scale's 100k fleet (a toggle's manifest
 * against the document held: one text, 499 nulls), or without `--answer` one of the same
 * shape built here. Each sample starts from the same held tenants, so the changed text is
 * hashed and parsed every time, as in the fleet. `--loop N` runs only the agent's whole path
 * N times (for `--cpu-prof`). `--changes` sends the same manifest as its changes against the
 * held one (contract/desired.ts, desiredManifestChangesSchema) and verifies it as watchDesired
 * does (verifyManifestChanges).
 *   npx tsx bench/manifest-verify.ts [--answer file] [--samples 300] [--loop N] [--changes]
 *   node --import tsx --cpu-prof --cpu-prof-dir /tmp/prof bench/manifest-verify.ts --loop 3000
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPublicKey, verify } from 'node:crypto';
import { DesiredFileStore } from '../src/agent/desired/desired-file-store.ts';
import { DesiredMarkFile } from '../src/agent/desired/desired-mark-file.ts';
import { TrustedKeys } from '../src/agent/desired/verify-desired.ts';
import {
  ManifestTenants,
  verifyManifest,
  verifyManifestChanges,
} from '../src/agent/desired/verify-manifest.ts';
import { manifestChanges } from '../src/coordinator/desired/watch-delta.ts';
import {
  desiredManifestSchema,
  desiredTenantSchema,
  desiredWatchResponseSchema,
  type DesiredManifest,
  type NodeDesired,
} from '../src/contract/desired.ts';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import { canonicalJson } from '../src/core/desired-doc.ts';
import { manifestText, sha256Hex } from '../src/core/desired-manifest.ts';
import { createApiClient } from '../src/drivers/coordinator-api/api-client.ts';
import { fleetScaleTenants } from './support/document-shape.ts';
import { percentile } from './support/stats.ts';
import { stepTimer } from './support/step-timer.ts';

const { values: flags } = parseArgs({
  options: {
    answer: { type: 'string' },
    samples: { type: 'string' },
    loop: { type: 'string' },
    changes: { type: 'boolean' },
  },
});
const SAMPLES = Number(flags.samples ?? 300);

interface Recorded {
  publicKeyPem: string;
  nodeId: string;
  /** The same document with every text. */
  whole: DesiredManifest;
  /** The answer's JSON text, against the document held. */
  answer: string;
}

/** A document of fleet-scale's shape, one instance toggled against the held one. */
function built(): Recorded {
  const key = ephemeralSigningKey();
  const tenants = fleetScaleTenants(500);
  const doc: NodeDesired = {
    schema: 'mvm.node-desired/v1',
    nodeId: 'node-1',
    generation: 7,
    issuedAt: new Date().toISOString(),
    tenants,
  };
  const payload = canonicalJson(doc);
  const tenantsAt = payload.indexOf('"tenants":[') + '"tenants":['.length;
  const head = payload.slice(0, tenantsAt);
  const texts = tenants.map((t) => canonicalJson(t));
  const digests = texts.map(sha256Hex);
  const signature = key.sign(manifestText(head, digests));
  const whole = { manifest: { head, digests }, tenants: texts, signature, keyId: key.keyId };
  const answer = { ...whole, base: 6, tenants: texts.map((t, i) => (i === 250 ? t : null)) };
  return {
    publicKeyPem: key.publicKeyPem,
    nodeId: 'node-1',
    whole,
    answer: JSON.stringify(answer),
  };
}

const recorded: Recorded =
  flags.answer !== undefined
    ? (JSON.parse(readFileSync(flags.answer, 'utf8')) as Recorded)
    : built();
const options = {
  trustedKeys: [recorded.publicKeyPem],
  production: true,
  nodeId: recorded.nodeId,
  lastGeneration: 0,
  keys: new TrustedKeys(),
};
const sent = JSON.parse(recorded.answer) as DesiredManifest;
const changed = new Set(sent.tenants.flatMap((t, i) => (t === null ? [] : [i])));
// What the agent held: the document's tenants in the same order, the answer's texts under
// other digests (their previous texts: not hashed here, so any other digest stands for them).
const whole = verifyManifest(recorded.whole, options);
const heldDigests = whole.envelope.manifest.digests.map((d, i) =>
  changed.has(i) ? sha256Hex(`previous ${i}`) : d,
);
const base = sent.base ?? 0;
const holding = (): ManifestTenants => {
  const held = new ManifestTenants();
  held.keep(heldDigests, whole.envelope.tenants, whole.verified.document.tenants, base);
  return held;
};
// The same document as its changes against the held digests, as the coordinator sends it.
const text =
  flags.changes === true
    ? JSON.stringify(
        manifestChanges(
          { generation: base, digests: heldDigests },
          { envelope: { ...recorded.whole, tenants: whole.envelope.tenants } },
        ),
      )
    : recorded.answer;
const api = createApiClient({
  baseUrl: 'http://coordinator.invalid',
  token: 't',
  fetch: () => new Response(text, { headers: { 'content-type': 'application/json' } }),
});
const dir = mkdtempSync(join(tmpdir(), 'manifest-verify-'));
const store = new DesiredFileStore(join(dir, 'desired.json'));
const marks = await DesiredMarkFile.open(join(dir, 'desired-mark.json'));
const query = {
  after: base,
  waitMs: 0,
  manifest: '1' as const,
  ...(flags.changes === true ? { changes: '1' as const } : {}),
};

/** The answer verified as watchDesired verifies it: a manifest, or a manifest's changes. */
function verifyAnswer(answer: unknown, held: ManifestTenants) {
  if (typeof answer === 'object' && answer !== null && 'changes' in answer) {
    return verifyManifestChanges(
      answer as Parameters<typeof verifyManifestChanges>[0],
      options,
      held,
    );
  }
  return verifyManifest(answer, options, held);
}

/** The agent's whole path for one answer, as watchDesired and the agent loop take it. */
async function handle(held: ManifestTenants, disk: boolean) {
  const answer = await api.call('watchNodeDesired', { params: { node: recorded.nodeId }, query });
  if (!('manifest' in answer) && !('changes' in answer)) throw new Error('not a manifest');
  const out = verifyAnswer(answer, held);
  if (held.last.hashed !== changed.size) throw new Error(`hashed ${held.last.hashed}`);
  held.keep(out.envelope.manifest.digests, out.envelope.tenants, out.verified.document.tenants);
  if (disk) {
    await store.save(out.envelope);
    await marks.accepted(out.verified.document);
  }
  return out;
}

try {
  if (flags.loop !== undefined) {
    const runs = Number(flags.loop);
    const started = performance.now();
    for (let r = 0; r < runs; r += 1) await handle(holding(), false);
    const ms = (performance.now() - started) / runs;
    console.log(`${runs} answers through client + verifyManifest + keep: ${ms.toFixed(3)} ms each`);
  } else {
    await measure();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function measure(): Promise<void> {
  const { steps, note, time } = stepTimer();
  const pem = createPublicKey(recorded.publicKeyPem);
  for (let s = -20; s < SAMPLES; s += 1) {
    // The parts alone.
    const json = time('JSON.parse of the answer', () => JSON.parse(recorded.answer) as unknown);
    time('response schema (the client: union of four)', () =>
      desiredWatchResponseSchema.parse(json),
    );
    time('desiredManifestSchema (verifyManifest)', () => desiredManifestSchema.parse(json));
    const text = time('manifest text (tag, head, 500 digests joined)', () =>
      manifestText(sent.manifest.head, sent.manifest.digests),
    );
    time('ed25519 verify over the manifest text', () =>
      verify(null, Buffer.from(text, 'utf8'), pem, Buffer.from(sent.signature, 'base64')),
    );
    const held = holding();
    time('500 look-ups by digest', () => {
      for (const d of sent.manifest.digests) held.get(d);
    });
    const texts = sent.tenants.filter((t): t is string => t !== null);
    time('changed texts: sha256', () => texts.forEach(sha256Hex));
    time('changed texts: JSON.parse + desiredTenantSchema', () =>
      texts.forEach((t) => desiredTenantSchema.parse(JSON.parse(t))),
    );
    // The whole path, and its parts as the agent runs them.
    const startedAll = performance.now();
    const answer = await api.call('watchNodeDesired', {
      params: { node: recorded.nodeId },
      query,
    });
    note(
      'client call (Response body, JSON.parse, response schema)',
      performance.now() - startedAll,
    );
    const out = time('verifyManifest (or its changes), held tenants', () =>
      verifyAnswer(answer, held),
    );
    time('keep the held tenants', () =>
      held.keep(out.envelope.manifest.digests, out.envelope.tenants, out.verified.document.tenants),
    );
    note('agent in memory: client + verify + keep', performance.now() - startedAll);
    let started = performance.now();
    await store.save(out.envelope);
    note('disk: DesiredFileStore.save (atomic, fsync)', performance.now() - started);
    started = performance.now();
    await marks.accepted(out.verified.document);
    note('disk: mark file (atomic, fsync)', performance.now() - started);
    note('agent with disk: whole', performance.now() - startedAll);
    if (s < 0) steps.clear();
  }
  console.log(
    `${flags.changes === true ? "manifest's changes" : 'manifest'} answer ${(text.length / 1024).toFixed(1)} KiB (the manifest ${(recorded.answer.length / 1024).toFixed(1)} KiB), ${sent.manifest.digests.length} digests, ${changed.size} text(s), ${SAMPLES} samples${flags.answer !== undefined ? ` (recorded: ${flags.answer})` : ' (built)'}`,
  );
  console.log('| step | p50 | p90 |');
  console.log('| --- | --- | --- |');
  for (const [name, values] of steps) {
    console.log(
      `| ${name} | ${percentile(values, 50).toFixed(3)} ms | ${percentile(values, 90).toFixed(3)} ms |`,
    );
  }
}
