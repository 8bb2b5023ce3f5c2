import { lstat, mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { joinHost } from '../../src/agent/join/join-host.ts';
import { NodeSession, renewalDue } from '../../src/agent/join/node-session.ts';
import { parseCertPem } from '../../src/drivers/pki/cert-info.ts';
import { createHttpsFetch } from '../../src/agent/join/https-fetch.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import {
  call,
  FACTS,
  runner,
  startTlsCoordinator,
  type TlsCoordinator,
} from '../coordinator/join-harness.ts';
import { testDatabaseFile } from './join-support.ts';

let coordinator: TlsCoordinator | undefined;
const scratch: string[] = [];

afterEach(async () => {
  await coordinator?.close();
  coordinator = undefined;
  for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

function desiredStatus(c: TlsCoordinator, fetch: ReturnType<typeof createHttpsFetch>) {
  return call(fetch, c.url, 'GET', '/nodes/node-1/desired?after=0&waitMs=0').then((a) => a.status);
}

it('stores the identity privately and swaps it with one rename', async () => {
  coordinator = await startTlsCoordinator(await testDatabaseFile(tempDir));
  const issued = await coordinator.issueToken({ nodeId: 'node-1' });
  const dataDir = await tempDir('mvm-agent-');
  await joinHost({
    coordinatorUrl: coordinator.url,
    token: issued.token,
    nodeId: 'node-1',
    facts: FACTS,
    trust: { caFingerprint: issued.caFingerprint.replace(/:/g, '').toLowerCase() },
    dataDir,
    runner,
  });
  const nodeDir = join(dataDir, 'node');
  expect((await lstat(join(nodeDir, 'current'))).isSymbolicLink()).toBe(true);
  expect((await stat(join(nodeDir, 'current', 'node.key'))).mode & 0o777).toBe(0o600);
  const session = await NodeSession.open(dataDir, runner);
  const before = await readlink(join(nodeDir, 'current'));
  await session.renew();
  const after = await readlink(join(nodeDir, 'current'));
  expect(after).not.toBe(before);
  expect(after).toBe(`identity-${parseCertPem(session.certificatePem).serial}`);
  expect((await NodeSession.open(dataDir, runner)).certificatePem).toBe(session.certificatePem);
});

it('refuses to send the join token to a coordinator whose CA does not match the pin', async () => {
  coordinator = await startTlsCoordinator(await testDatabaseFile(tempDir));
  const issued = await coordinator.issueToken();
  const attempt = joinHost({
    coordinatorUrl: coordinator.url,
    token: issued.token,
    nodeId: 'node-1',
    facts: FACTS,
    trust: { caFingerprint: 'AB'.repeat(32) },
    dataDir: await tempDir('mvm-agent-'),
    runner,
  });
  await expect(attempt).rejects.toThrow(/expected fingerprint/);
  // Nothing reached the coordinator: the token still works.
  await coordinator.join('node-1', issued.token);
});

it('says what to do when the host has not joined', async () => {
  await expect(NodeSession.open(await tempDir('mvm-agent-'), runner)).rejects.toThrow(
    /run 'mvm add host' first/,
  );
});

it('renews after two thirds of the validity; the old certificate works until it expires', async () => {
  coordinator = await startTlsCoordinator(await testDatabaseFile(tempDir), {
    nodeCertValidityMs: 5_000,
  });
  const session = await coordinator.join('node-1');
  const c = coordinator;
  expect(await session.renewIfDue(new Date())).toBe(false);
  const before = session.tlsMaterial();
  const old = createHttpsFetch(() => before);
  const oldSerial = parseCertPem(session.certificatePem).serial;
  await waitUntil(() => (renewalDue(session.certificatePem, new Date()) ? true : undefined), {
    clock: systemClock,
    timeoutMs: 10_000,
    intervalMs: 100,
    what: 'renewal to fall due',
  });
  expect(await session.renewIfDue(new Date())).toBe(true);
  expect(parseCertPem(session.certificatePem).serial).not.toBe(oldSerial);
  // No downtime: both certificates are accepted side by side.
  expect(await desiredStatus(c, session.fetch)).toBe(200);
  expect(await desiredStatus(c, old)).toBe(200);
  await waitUntil(async () => ((await desiredStatus(c, old)) === 401 ? true : undefined), {
    clock: systemClock,
    timeoutMs: 10_000,
    intervalMs: 200,
    what: 'the old certificate to expire',
  });
  expect(await desiredStatus(c, session.fetch)).toBe(200);
});
