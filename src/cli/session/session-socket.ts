import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { fillPath, routes } from '../../contract/api.ts';
import { errorBodySchema } from '../../contract/common.ts';
import { MAX_SESSION_MESSAGE } from '../../contract/exec.ts';
import { errorCodeOfStatus } from '../../contract/http-status.ts';
import { errorFromWire, MvmError, UnavailableError } from '../../core/errors.ts';
import type { InstanceRef } from '../../core/ids.ts';

export interface SessionTarget {
  coordinatorUrl: string;
  token?: string;
  /** The CA an https coordinator must chain to. */
  caPem?: string;
}

/** The exec route takes commands, terminals and copies; the logs route the console. */
export type SessionRouteName = 'execInstance' | 'instanceLogs';

export function sessionUrl(
  coordinatorUrl: string,
  ref: InstanceRef,
  route: SessionRouteName = 'execInstance',
): string {
  const path = fillPath(routes[route].path, {
    tenant: ref.tenantId,
    pool: ref.poolId,
    instance: ref.instanceId,
  });
  const url = new URL(`${coordinatorUrl.replace(/\/+$/, '')}/v1${path}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * Opens a session socket to the instance through the coordinator. A refused upgrade is the
 * coordinator's own error (the 404 of an instance the token cannot see, a 401, ...), as from
 * any API call; an unreachable coordinator is `unavailable`.
 */
export function openSessionSocket(
  target: SessionTarget,
  ref: InstanceRef,
  route: SessionRouteName = 'execInstance',
): Promise<WebSocket> {
  const ws = new WebSocket(sessionUrl(target.coordinatorUrl, ref, route), {
    headers: target.token !== undefined ? { authorization: `Bearer ${target.token}` } : {},
    ...(target.caPem !== undefined ? { ca: target.caPem } : {}),
    maxPayload: MAX_SESSION_MESSAGE,
    perMessageDeflate: false,
    handshakeTimeout: 30_000,
  });
  return new Promise((resolve, reject) => {
    let refused = false;
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      refused = true;
      void refusal(response, target.coordinatorUrl)
        .then(reject, reject)
        .finally(() => ws.terminate());
    });
    ws.on('error', (error) => {
      // After a refusal, its answer is the error; the aborted handshake adds nothing.
      if (refused) return;
      reject(
        new UnavailableError(
          `cannot reach the coordinator at ${target.coordinatorUrl}: ${error.message}; start it with 'mvm coordinator serve' or set --coordinator`,
          { url: target.coordinatorUrl },
        ),
      );
    });
  });
}

async function refusal(response: IncomingMessage, url: string): Promise<MvmError> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const body = errorBodySchema.safeParse(parse(Buffer.concat(chunks).toString('utf8')));
  if (body.success) {
    const { code, message, details } = body.data.error;
    return errorFromWire(code, message, details);
  }
  const status = response.statusCode ?? 0;
  return new MvmError(
    errorCodeOfStatus(status),
    `the server at ${url} refused the session with HTTP ${status} and no mvm error body; is --coordinator pointing at an mvm coordinator?`,
  );
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
