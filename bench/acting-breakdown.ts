/**
 * Where the document's share of "agent acting" goes at 100k (issue 17, item 1): after a
 * running ⇄ warm toggle, from the scale's answer to the agent holding the verified document.
 * In process, on fleet-scale's spread fleet (100 nodes, 500 tenants, 1,000 instances per
 * document): the watch's answer (wake, pacing, computation, generation, signature) timed as the
 * real `DesiredService.watch` gives it, then each later step of the wire and the agent timed
 * alone on that answer: the answer's JSON text (the HTTP layer's c.json), the client's parse and
 * response check, verifyEnvelope's parts (envelope check, signature, payload parse, zod), and
 * verifyEnvelope whole, validating every tenant and only those changed (ValidatedTenants).
 * Then the same toggle's answer as a delta against the document held (contract/desired.ts,
 * desiredDeltaSchema; a second watch of the same change, asked with delta): its JSON text, the
 * client's parse, and the agent's rebuild and verify (delta-payload.ts, as watchDesired).
 * Then as a manifest of its tenants' digests (desiredManifestSchema, asked with manifest): its
 * JSON text, the client's parse, and the agent's verifyManifest with the tenants it holds (as
 * watchDesired); and the coordinator's signature of each form timed apart (the payload joined
 * and signed, against the manifest's text and its signature, with a key of the same kind).
 * The watch after the scale alternates between the two forms (its rows say which).
 * `--record <file>` keeps the last manifest answer's text (against the document held), the
 * same document with every text (the agent held all but the answer's) and the key, for
 * bench/manifest-verify.ts to replay through the agent's code.
 *   npx tsx bench/acting-breakdown.ts [postgres|sqlite] [--samples 20] [--record file]
 */
import { createPublicKey, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ValidatedTenants } from '../src/agent/desired/validated-tenants.ts';
import { TrustedKeys, verifyEnvelope } from '../src/agent/desired/verify-desired.ts';
import { rebuildEnvelope, tenantTexts } from '../src/agent/desired/delta-payload.ts';
import { ManifestTenants, verifyManifest } from '../src/agent/desired/verify-manifest.ts';
import { manifestPayload, manifestText } from '../src/core/desired-manifest.ts';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import {
  desiredWatchResponseSchema,
  nodeDesiredSchema,
  signedEnvelopeSchema,
  type DesiredDelta,
  type DesiredManifest,
  type SignedEnvelope,
} from '../src/contract/desired.ts';
import { tenantId, type StoreName } from './support/fleet-seed.ts';
import { seededFleet } from './support/seeded-fleet.ts';
import { percentile } from './support/stats.ts';
import { stepTimer } from './support/step-timer.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'string' }, record: { type: 'string' } },
});
const storeName = (positionals[0] ?? 'postgres') as StoreName;
const SAMPLES = Number(flags.samples ?? 20);

const shape = { nodes: 100, tenants: 500, perTenant: 200 };
const { services, api, close } = await seededFleet(storeName, shape, { clusterCidr: '10.0.0.0/8' });
try {
  const desired = services.desired;
  const { publicKeyPem, keyId } = desired.signingKey();
  const { steps, note, time } = stepTimer();
  let size = 0;
  let deltaSize = 0;
  let generation = 0;
  let watched: string | undefined;
  // As a watch keeps them (watchDesired): the previous document's tenants.
  const kept = new ValidatedTenants();
  const keys = new TrustedKeys();
  // The held document's tenants' texts, and a second ValidatedTenants for the delta's verify.
  let held: { generation: number; texts: string[] } | undefined;
  const keptForDelta = new ValidatedTenants();
  // The held manifest's tenants by digest, as a manifest-taking watch keeps them.
  const byDigest = new ManifestTenants();
  const sameKind = ephemeralSigningKey();
  let manifestSize = 0;
  for (let i = -2; i < SAMPLES; i += 1) {
    const warm = (i + 3) % 2;
    // The toggle moves the same instance back and forth: its node is learnt from the first.
    const asManifest = i % 2 === 0;
    const watch = watched
      ? desired
          .watch(watched, generation, 2000, { manifest: asManifest })
          .then((answer) => ({ at: performance.now(), answer }))
      : undefined;
    await new Promise((r) => setTimeout(r, 20));
    const answer = (await api('POST', `/tenants/${tenantId(1)}/pools/w/scale`, {
      running: shape.perTenant - warm,
      warm,
    })) as { changed: Array<{ nodeId: string | null }> };
    const answered = performance.now();
    const node = answer.changed[0]?.nodeId;
    if (!node) throw new Error('the toggle changed no placed instance');
    if (!watch || node !== watched) {
      await watch;
      watched = node;
      const first = (await desired.watch(node, 0, 0, { delta: true })) as SignedEnvelope;
      const options = { trustedKeys: [publicKeyPem], production: true, nodeId: node };
      generation = verifyEnvelope(first, { ...options, lastGeneration: 0, tenants: kept, keys })
        .document.generation;
      verifyEnvelope(first, { ...options, lastGeneration: 0, tenants: keptForDelta, keys });
      held = { generation, texts: tenantTexts(first.payload) ?? [] };
      const manifest = await desired.watch(node, 0, 0, { manifest: true });
      const whole = verifyManifest(manifest, { ...options, lastGeneration: 0, keys }, byDigest);
      byDigest.keep(
        whole.envelope.manifest.digests,
        whole.envelope.tenants,
        whole.verified.document.tenants,
      );
      continue;
    }
    const got = await watch;
    if ('unchanged' in (got.answer as object)) throw new Error('no new document');
    const form = asManifest ? 'manifest' : 'payload-signed';
    if (i >= 0)
      note(`watch answer after the scale, ${form} (wake, pace, compute, sign)`, got.at - answered);
    // The other form of the same document (computed already: only its signature is new).
    const envelope = (
      asManifest ? await desired.watch(node, generation, 0) : got.answer
    ) as SignedEnvelope;
    const manifestAnswer = (
      asManifest ? got.answer : await desired.watch(node, generation, 0, { manifest: true })
    ) as DesiredManifest;
    if (manifestAnswer.base !== generation) throw new Error('no manifest against the held one');
    const text = time('answer JSON text (c.json)', () => JSON.stringify(envelope));
    size = text.length;
    const parsedText = time('client JSON.parse of the answer', () => JSON.parse(text) as unknown);
    time('client response schema (union)', () => desiredWatchResponseSchema.parse(parsedText));
    time('verify: envelope schema', () => signedEnvelopeSchema.parse(parsedText));
    const pem = createPublicKey(publicKeyPem);
    time('verify: ed25519 over the payload', () =>
      verify(
        null,
        Buffer.from(envelope.payload, 'utf8'),
        pem,
        Buffer.from(envelope.signature ?? '', 'base64'),
      ),
    );
    const json = time(
      'verify: JSON.parse of the payload',
      () => JSON.parse(envelope.payload) as unknown,
    );
    time('verify: nodeDesiredSchema (zod)', () => nodeDesiredSchema.parse(json));
    const verified = time('verifyEnvelope, whole', () =>
      verifyEnvelope(parsedText, {
        trustedKeys: [publicKeyPem],
        production: true,
        nodeId: node,
        lastGeneration: 0,
      }),
    );
    if (verified.keyId !== keyId) throw new Error('wrong key');
    const reusing = time('verifyEnvelope, unchanged tenants kept (as watchDesired)', () =>
      verifyEnvelope(parsedText, {
        trustedKeys: [publicKeyPem],
        production: true,
        nodeId: node,
        lastGeneration: 0,
        tenants: kept,
        keys,
      }),
    );
    if (reusing.document.generation !== verified.document.generation) throw new Error('differs');
    // The same change as a delta: the watch of a delta-taking agent holding `generation`.
    const deltaAnswer = (await desired.watch(node, generation, 0, { delta: true })) as DesiredDelta;
    if (!('delta' in deltaAnswer)) throw new Error('no delta');
    const deltaText = time('delta: answer JSON text (c.json)', () => JSON.stringify(deltaAnswer));
    deltaSize = deltaText.length;
    const deltaParsed = time('delta: client JSON.parse of the answer', () =>
      desiredWatchResponseSchema.parse(JSON.parse(deltaText)),
    ) as DesiredDelta;
    const rebuilt = time('delta: rebuild + verifyEnvelope, kept tenants (as watchDesired)', () => {
      const { envelope: whole, texts } = rebuildEnvelope(deltaParsed, held);
      const doc = verifyEnvelope(whole, {
        trustedKeys: [publicKeyPem],
        production: true,
        nodeId: node,
        lastGeneration: 0,
        tenants: keptForDelta,
        keys,
      });
      held = { generation: doc.document.generation, texts };
      return doc;
    });
    if (rebuilt.document.generation !== verified.document.generation) throw new Error('differs');
    // The same change as a manifest against the one held (as a manifest-taking watch).
    const manifestText_ = time('manifest: answer JSON text (c.json)', () =>
      JSON.stringify(manifestAnswer),
    );
    manifestSize = manifestText_.length;
    const manifestParsed = time('manifest: client JSON.parse of the answer (with its schema)', () =>
      desiredWatchResponseSchema.parse(JSON.parse(manifestText_)),
    ) as DesiredManifest;
    if (flags.record !== undefined && i === SAMPLES - 1) {
      // Every text of the same document: the agent held all but the answer's texts.
      const whole = await desired.watch(node, 0, 0, { manifest: true });
      const recorded = { publicKeyPem, nodeId: node, whole, answer: manifestText_ };
      writeFileSync(flags.record, JSON.stringify(recorded));
    }
    const { head, digests } = manifestParsed.manifest;
    time('manifest: ed25519 over the manifest', () =>
      verify(
        null,
        Buffer.from(manifestText(head, digests), 'utf8'),
        pem,
        Buffer.from(manifestParsed.signature, 'base64'),
      ),
    );
    const fromManifest = time('manifest: verifyManifest, held tenants (as watchDesired)', () => {
      const out = verifyManifest(
        manifestParsed,
        { trustedKeys: [publicKeyPem], production: true, nodeId: node, lastGeneration: 0, keys },
        byDigest,
      );
      byDigest.keep(
        out.envelope.manifest.digests,
        out.envelope.tenants,
        out.verified.document.tenants,
      );
      return out;
    });
    if (fromManifest.verified.document.generation !== verified.document.generation) {
      throw new Error('differs');
    }
    // Two issues of one generation (each computation stamps its own time): the same tenants.
    const tenantsAt = envelope.payload.indexOf('"tenants":[') + '"tenants":['.length;
    if (manifestPayload('', fromManifest.envelope.tenants) !== envelope.payload.slice(tenantsAt)) {
      throw new Error('the manifest stands for another payload');
    }
    // The coordinator's signature of each form, with a key of the same kind.
    const texts = fromManifest.envelope.tenants;
    time('coordinator: payload joined + ed25519 sign', () =>
      sameKind.sign(manifestPayload(head, texts)),
    );
    time('coordinator: manifest text + ed25519 sign', () =>
      sameKind.sign(manifestText(head, digests)),
    );
    generation = verified.document.generation;
    if (i < 0) steps.clear();
  }
  console.log(
    `${storeName}, 100000 instances, one 1,000-instance document (answer ${(size / 1024).toFixed(0)} KiB, delta ${(deltaSize / 1024).toFixed(1)} KiB, manifest ${(manifestSize / 1024).toFixed(1)} KiB), ${SAMPLES} samples`,
  );
  console.log('| step | p50 | p90 |');
  console.log('| --- | --- | --- |');
  for (const [name, values] of steps) {
    console.log(
      `| ${name} | ${percentile(values, 50).toFixed(2)} ms | ${percentile(values, 90).toFixed(2)} ms |`,
    );
  }
} finally {
  await close();
}
