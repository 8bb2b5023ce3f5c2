/**
 * The agent's verification of a node document of fleet-scale's 100k shape (500 tenants, one
 * pool of two instances each: 1,000 instances), after a toggle of one instance: every tenant
 * validated (zod) against only the changed ones (ValidatedTenants, as watchDesired keeps
 * them), the payload parsed whole or read by its tenants' texts, alternated in one process so
 * the host's load falls on all alike. No store.
 *   npx tsx bench/document-verify.ts [--samples 200]
 */
import { parseArgs } from 'node:util';
import { ValidatedTenants } from '../src/agent/desired/validated-tenants.ts';
import { verifyEnvelope, type VerifyOptions } from '../src/agent/desired/verify-desired.ts';
import type { NodeDesired, SignedEnvelope } from '../src/contract/desired.ts';
import { ephemeralSigningKey } from '../src/coordinator/desired/signing-key.ts';
import { canonicalJson } from '../src/core/desired-doc.ts';
import { fleetScaleTenants } from './support/document-shape.ts';
import { percentile } from './support/stats.ts';

const { values: flags } = parseArgs({ options: { samples: { type: 'string' } } });
const SAMPLES = Number(flags.samples ?? 200);
const key = ephemeralSigningKey();
const tenants = fleetScaleTenants(500);
const signed = (generation: number): SignedEnvelope => {
  const doc: NodeDesired = {
    schema: 'mvm.node-desired/v1',
    nodeId: 'node-1',
    generation,
    issuedAt: new Date().toISOString(),
    tenants,
  };
  const payload = canonicalJson(doc);
  return { payload, signature: key.sign(payload), keyId: key.keyId };
};
const options: VerifyOptions = {
  trustedKeys: [key.publicKeyPem],
  production: true,
  nodeId: 'node-1',
  lastGeneration: 0,
};
/** As before the tenants' texts were read: the payload parsed whole, tenants compared as JSON. */
class ParsedWhole extends ValidatedTenants {
  override fromTexts(): undefined {
    return undefined;
  }
}
const kept = new ValidatedTenants();
const keptParsed = new ParsedWhole();
verifyEnvelope(signed(1), { ...options, tenants: kept });
verifyEnvelope(signed(1), { ...options, tenants: keptParsed });
const full: number[] = [];
const reusing: number[] = [];
const parsedWhole: number[] = [];
let size = 0;
for (let g = 2; g < SAMPLES + 2; g += 1) {
  // One instance toggled, as a running ⇄ warm scale does.
  const at = g % tenants.length;
  const instance = tenants[at]?.pools[0]?.instances[0];
  if (instance) instance.desiredStatus = instance.desiredStatus === 'running' ? 'warm' : 'running';
  const envelope = JSON.parse(JSON.stringify(signed(g))) as SignedEnvelope;
  size = envelope.payload.length;
  const timed = (into: number[], tenantsKept?: ValidatedTenants) => {
    const started = performance.now();
    verifyEnvelope(envelope, { ...options, ...(tenantsKept ? { tenants: tenantsKept } : {}) });
    into.push(performance.now() - started);
  };
  const runs = [
    () => timed(full),
    () => timed(reusing, kept),
    () => timed(parsedWhole, keptParsed),
  ];
  for (let r = 0; r < runs.length; r += 1) runs[(g + r) % runs.length]?.();
  for (const k of [kept, keptParsed]) {
    if (k.last.validated !== 1) throw new Error(`validated ${k.last.validated} tenants, not 1`);
  }
}
const ms = (v: number[], p: number) => `${percentile(v, p).toFixed(2)} ms`;
console.log(
  `document of 500 tenants, 1,000 instances (${(size / 1024).toFixed(0)} KiB), ${SAMPLES} samples`,
);
console.log('| verification | p50 | p90 |');
console.log('| --- | --- | --- |');
console.log(`| every tenant validated | ${ms(full, 50)} | ${ms(full, 90)} |`);
console.log(
  `| changed tenant only, payload parsed whole | ${ms(parsedWhole, 50)} | ${ms(parsedWhole, 90)} |`,
);
console.log(
  `| changed tenant only, read by tenant texts (ValidatedTenants) | ${ms(reusing, 50)} | ${ms(reusing, 90)} |`,
);
