/**
 * A session's WebSocket as the exec and ticket tests open it: opened, or refused with the
 * status and body the coordinator answered instead of the upgrade.
 */
import { WebSocket } from 'ws';
import { MAX_SESSION_MESSAGE } from '../../src/contract/exec.ts';
import { collect } from './exec-output.ts';

export type Opened = { opened: WebSocket } | { refused: number; body: string };

export function openSessionSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<Opened> {
  const ws = new WebSocket(url, {
    headers,
    perMessageDeflate: false,
    maxPayload: MAX_SESSION_MESSAGE,
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    ws.once('open', () => {
      settled = true;
      resolve({ opened: ws });
    });
    ws.once('unexpected-response', (_request, response) => {
      settled = true;
      void collect(response).then((body) => {
        resolve({ refused: response.statusCode ?? 0, body: body.toString('utf8') });
        ws.terminate();
      });
    });
    ws.on('error', (error) => {
      if (!settled) reject(error);
    });
  });
}
