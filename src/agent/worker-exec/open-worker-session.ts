import { WebSocket } from 'ws';
import { fillPath, routes } from '../../contract/api.ts';
import type { WorkerExecQuery } from '../../contract/worker-exec.ts';
import { UnavailableError } from '../../core/errors.ts';
import type { InstanceKey } from '../../ports/store.ts';
import { nodeSocketOptions, type TunnelAuth } from '../tunnel/tunnel-client.ts';

export interface WorkerSessionTarget {
  baseUrl: string;
  nodeId: string;
  /** Read per session: a renewed certificate is used from the next one on. */
  auth: () => TunnelAuth;
}

export function workerExecUrl(
  target: WorkerSessionTarget,
  gateway: InstanceKey,
  query: WorkerExecQuery,
): string {
  const path = fillPath(routes.workerExec.path, {
    node: target.nodeId,
    tenant: gateway.tenantId,
    pool: gateway.poolId,
    instance: gateway.instanceId,
  });
  const url = new URL(`${target.baseUrl.replace(/\/+$/, '')}/v1${path}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (query.worker !== undefined) url.searchParams.set('worker', query.worker);
  if (query.target !== undefined) url.searchParams.set('target', query.target);
  return url.toString();
}

/**
 * The coordinator's workerExec socket for a gateway this node runs, with the node's own
 * credential (never the guest's: it has none). A refusal is the coordinator's error text.
 */
export function openWorkerSocket(
  target: WorkerSessionTarget,
  gateway: InstanceKey,
  query: WorkerExecQuery,
): Promise<WebSocket> {
  const ws = new WebSocket(
    workerExecUrl(target, gateway, query),
    nodeSocketOptions(target.auth(), 30_000),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        reject(new UnavailableError(refusalText(response.statusCode, Buffer.concat(chunks))));
        ws.terminate();
      });
    });
    ws.on('error', (error) =>
      reject(new UnavailableError(`cannot reach the coordinator: ${error.message}`)),
    );
  });
}

function refusalText(status: number | undefined, body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // not an mvm error body
  }
  return `the coordinator refused the worker session with HTTP ${String(status)}`;
}
