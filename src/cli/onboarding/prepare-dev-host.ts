import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCheck } from '../../agent/join/host-checks.ts';
import { hostFacts } from '../../agent/join/host-facts.ts';
import { NodeIdentityStore } from '../../agent/join/node-identity.ts';
import { loadOrCreateSigningKey } from '../../coordinator/desired/signing-key.ts';
import { errorMessage, isMvmError } from '../../core/errors.ts';
import { parseCertPem } from '../../drivers/pki/cert-info.ts';
import { OpensslCa } from '../../drivers/pki/openssl-ca.ts';
import { privateDir } from '../../drivers/fs/private-files.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { listCachedImages } from '../commands/image/image-cache.ts';

/**
 * `mvm add host` with no join flags: makes this machine a dev host on its own. Every step is
 * idempotent and says what it found or did; nothing is joined to a remote fleet (the join
 * flags do that).
 */
export type StepStatus = 'created' | 'exists' | 'registered' | 'missing' | 'skipped' | 'failed';

export interface DevHostStep {
  name: string;
  status: StepStatus;
  detail: string;
}

export interface DevHostResult {
  mode: 'dev';
  node: string;
  dataDir: string;
  checks: HostCheck[];
  steps: DevHostStep[];
  coordinator: { url: string; running: boolean };
  /** The commands to run next, in order. */
  next: string[];
}

export interface DevHostInput {
  dataDir: string;
  cacheDir: string;
  nodeId: string;
  coordinatorUrl: string;
  api: ApiClient;
  /** Whether `api` carries a token (admin.token in the data dir, the config or --token). */
  hasToken: boolean;
  checks: HostCheck[];
  underlayIp?: string;
  runner: ProcessRunner;
  print(line: string): void;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

async function dataDirStep(dataDir: string): Promise<DevHostStep> {
  const had = await exists(dataDir);
  const tightened = privateDir(dataDir);
  const detail = `${dataDir} (0700${tightened ? `, tightened from ${tightened.from}` : ''})`;
  return { name: 'data dir', status: had ? 'exists' : 'created', detail };
}

/** The keys a coordinator on this host uses: made now, so every later command finds them. */
async function keySteps(dataDir: string, runner: ProcessRunner): Promise<DevHostStep[]> {
  const hadSigning = await exists(join(dataDir, 'signing.key'));
  const signing = await loadOrCreateSigningKey(dataDir);
  // The public half, for `mvm agent serve --trusted-key` (dev agents otherwise trust on first use).
  const pub = join(dataDir, 'signing.pub');
  const hadPub = (await readFile(pub, 'utf8').catch(() => '')) === signing.publicKeyPem;
  if (!hadPub) await writeFile(pub, signing.publicKeyPem, { mode: 0o644 });
  const hadCa = await exists(join(dataDir, 'ca', 'ca.crt'));
  const ca = await OpensslCa.loadOrCreate(join(dataDir, 'ca'), runner);
  const fingerprint = parseCertPem(ca.caCertificatePem).fingerprint;
  return [
    {
      name: 'signing key',
      status: hadSigning && hadPub ? 'exists' : 'created',
      detail: `${join(dataDir, 'signing.key')} (key ${signing.keyId}; public: ${pub})`,
    },
    {
      name: 'coordinator CA',
      status: hadCa ? 'exists' : 'created',
      detail: `${join(dataDir, 'ca', 'ca.crt')} (sha256 ${fingerprint})`,
    },
  ];
}

async function coordinatorRunning(api: ApiClient): Promise<boolean> {
  return api.call('health', {}).then(
    () => true,
    () => false,
  );
}

/** In dev the node's identity is its registration with the local coordinator (token mode). */
async function nodeStep(input: DevHostInput, running: boolean): Promise<DevHostStep> {
  const joined = await new NodeIdentityStore(input.dataDir).load().catch(() => undefined);
  if (joined) {
    return {
      name: 'node identity',
      status: 'exists',
      detail: `joined as '${joined.nodeId}' to ${joined.coordinatorUrl} (mTLS; 'mvm agent serve' uses it)`,
    };
  }
  if (!running || !input.hasToken) {
    const why = running
      ? `the coordinator at ${input.coordinatorUrl} answers, but this host has no token for it (pass --token)`
      : `no coordinator answers at ${input.coordinatorUrl}; the quickstart registers '${input.nodeId}' itself`;
    return { name: 'node identity', status: 'skipped', detail: why };
  }
  const known = await input.api.call('getNode', { params: { node: input.nodeId } }).then(
    () => true,
    (error: unknown) => {
      if (isMvmError(error) && error.code === 'not_found') return false;
      throw error;
    },
  );
  const facts = await hostFacts(input.dataDir);
  await input.api.call('registerNode', {
    params: { node: input.nodeId },
    body: { ...facts, ...(input.underlayIp !== undefined ? { underlayIp: input.underlayIp } : {}) },
  });
  return {
    name: 'node identity',
    status: known ? 'exists' : 'registered',
    detail: `node '${input.nodeId}' at ${input.coordinatorUrl} (${facts.capacity.vcpus} vCPU, ${facts.capacity.memMib} MiB; token mode)`,
  };
}

async function imageStep(cacheDir: string): Promise<DevHostStep> {
  const images = await listCachedImages(cacheDir).catch(() => []);
  const newest = images[0];
  return newest
    ? {
        name: 'dev image',
        status: 'exists',
        detail: `${newest.revision.slice(0, 12)} in ${cacheDir}`,
      }
    : {
        name: 'dev image',
        status: 'missing',
        detail: `none in ${cacheDir}; 'mvm image build --dev' builds it (or the first boot does)`,
      };
}

function nextSteps(nodeId: string, running: boolean, registered: boolean): string[] {
  if (running && registered) return [`mvm agent serve --node ${nodeId}`];
  if (running) return [`mvm add host --token <admin token>`, `mvm agent serve --node ${nodeId}`];
  return [
    'mvm quickstart   # coordinator and agent in one process, with a demo tenant',
    `or: mvm coordinator serve, then mvm add host, then mvm agent serve --node ${nodeId}`,
  ];
}

export async function prepareDevHost(input: DevHostInput): Promise<DevHostResult> {
  const steps: DevHostStep[] = [];
  const step = (s: DevHostStep): void => {
    steps.push(s);
    input.print(`${s.status.padEnd(10)} ${s.name.padEnd(14)} ${s.detail}`);
  };
  step(await dataDirStep(input.dataDir));
  for (const s of await keySteps(input.dataDir, input.runner)) step(s);
  const running = await coordinatorRunning(input.api);
  step(
    await nodeStep(input, running).catch((error: unknown): DevHostStep => ({
      name: 'node identity',
      status: 'failed',
      detail: `could not register with ${input.coordinatorUrl}: ${errorMessage(error)}`,
    })),
  );
  step(await imageStep(input.cacheDir));
  const registered = steps.some(
    (s) => s.name === 'node identity' && (s.status === 'registered' || s.status === 'exists'),
  );
  return {
    mode: 'dev',
    node: input.nodeId,
    dataDir: input.dataDir,
    checks: input.checks,
    steps,
    coordinator: { url: input.coordinatorUrl, running },
    next: nextSteps(input.nodeId, running, registered),
  };
}
