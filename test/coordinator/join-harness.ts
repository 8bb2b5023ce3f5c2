import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { joinHost } from '../../src/agent/join/join-host.ts';
import { createHttpsFetch, type HttpsFetch } from '../../src/agent/join/https-fetch.ts';
import { NodeSession } from '../../src/agent/join/node-session.ts';
import { serveCoordinator, type RunningCoordinator } from '../../src/coordinator/serve.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

export const ADMIN = 'join-test-admin-token-0123456789';
export const FACTS = {
  hostname: 'kvm-1',
  arch: 'x86_64',
  capacity: { vcpus: 8, memMib: 16384, diskGib: 100 },
};
export const runner = new NodeProcessRunner();

export interface Answer {
  status: number;
  body: unknown;
}

/** One HTTP exchange through a given fetch; JSON in, status and JSON out. */
export async function call(
  fetch: HttpsFetch,
  url: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(
    new Request(`${url}/v1${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    }),
  );
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

export function messageOf(answer: Answer): string {
  return (answer.body as { error?: { message?: string } }).error?.message ?? '';
}

export interface TlsCoordinator {
  url: string;
  dataDir: string;
  caPem: string;
  /** A client that verifies the server but presents no certificate. */
  anonymous: HttpsFetch;
  admin(method: string, path: string, body?: unknown): Promise<Answer>;
  issueToken(body?: { nodeId?: string; ttlSeconds?: number }): Promise<IssuedJoinToken>;
  /** Joins a host with its own data directory and opens its mTLS session. */
  join(nodeId: string, token?: string, extra?: { underlayIp?: string }): Promise<NodeSession>;
  close(): Promise<void>;
}

export interface IssuedJoinToken {
  token: string;
  caFingerprint: string;
  expiresAt: string;
}

export async function startTlsCoordinator(
  databaseUrl: string,
  options: { nodeCertValidityMs?: number } = {},
): Promise<TlsCoordinator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-join-coord-'));
  const agentDirs: string[] = [];
  const running: RunningCoordinator = await serveCoordinator(
    {
      listen: '127.0.0.1:0',
      databaseUrl,
      clusterCidr: '10.240.0.0/12',
      adminToken: ADMIN,
      dataDir,
      tls: {},
      ...options,
    },
    { logger: pino({ level: 'silent' }) },
  );
  const caPem = await readFile(join(dataDir, 'ca', 'ca.crt'), 'utf8');
  const anonymous = createHttpsFetch(() => ({ caPem }));
  const admin = (method: string, path: string, body?: unknown) =>
    call(anonymous, running.url, method, path, { token: ADMIN, body });
  const issueToken = async (body: { nodeId?: string; ttlSeconds?: number } = {}) => {
    const answer = await admin('POST', '/nodes/join-tokens', body);
    if (answer.status !== 201) throw new Error(`join-token: ${JSON.stringify(answer.body)}`);
    return answer.body as IssuedJoinToken;
  };
  return {
    url: running.url,
    dataDir,
    caPem,
    anonymous,
    admin,
    issueToken,
    async join(nodeId, token, extra = {}) {
      const issued = token === undefined ? await issueToken() : undefined;
      const agentDir = await mkdtemp(join(tmpdir(), `mvm-join-${nodeId}-`));
      agentDirs.push(agentDir);
      await joinHost({
        coordinatorUrl: running.url,
        token: token ?? issued?.token ?? '',
        nodeId,
        facts: { ...FACTS, ...extra },
        trust: issued ? { caFingerprint: issued.caFingerprint } : { caPem },
        dataDir: agentDir,
        runner,
      });
      return NodeSession.open(agentDir, runner);
    },
    async close() {
      await running.close();
      for (const dir of [dataDir, ...agentDirs]) await rm(dir, { recursive: true, force: true });
    },
  };
}
