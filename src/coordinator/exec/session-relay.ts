import { InternalError, ValidationError, type MvmError } from '../../core/errors.ts';
import {
  DEFAULT_SESSION_WINDOW,
  type SessionExit,
  type SessionStart,
} from '../../contract/exec.ts';
import type { SessionError } from '../../contract/exec.ts';
import type { InstanceRef } from '../../core/ids.ts';
import { CreditLedger } from '../../drivers/exec-tunnel/credit.ts';
import type { NodeTunnel, StreamEvents, TunnelStream } from '../tunnel/node-tunnel.ts';
import type { ClientControl, ClientListener, ClientSocket } from './client-socket.ts';
import { sessionError } from '../../drivers/exec-tunnel/session-error.ts';

/** How a session ended, for the audit trail and the log. */
export type SessionOutcome =
  | { kind: 'exit'; exit: SessionExit }
  | { kind: 'error'; error: SessionError['error'] }
  | { kind: 'disconnected' };

/** The message that ends the session for its client, when the node ended it. */
export function finalMessage(outcome: SessionOutcome): SessionExit | SessionError | undefined {
  if (outcome.kind === 'exit') return outcome.exit;
  return outcome.kind === 'error' ? { type: 'error', error: outcome.error } : undefined;
}

/** What the relay measured: the most it ever held for this session. */
export interface RelayFigures {
  window: number;
  /** Output the agent sent that the client had not yet taken (bounded by the window). */
  peakInFlight: number;
  /** The client socket's unsent bytes. */
  peakClientBuffered: number;
  /** The tunnel socket's unsent bytes (all of the node's sessions). */
  peakTunnelBuffered: number;
}

/**
 * Relays one session between a client's socket and the node's tunnel. Credit passes through
 * end to end: the agent sends output only as the client grants it, the client sends input
 * only as the agent grants it, so the coordinator holds at most a window per direction,
 * however slow either end is. A side that sends past its credit is cut off. The session's
 * last message (exit or error from the node) is left to the caller to send, after it has
 * recorded the session, so a client that saw the exit finds it in the audit trail.
 */
export function relaySession(
  client: ClientSocket,
  tunnel: NodeTunnel,
  ref: InstanceRef,
  start: SessionStart,
): Promise<{ outcome: SessionOutcome; figures: RelayFigures }> {
  const window = start.window ?? DEFAULT_SESSION_WINDOW;
  const output = new CreditLedger(window);
  let input: CreditLedger | undefined;
  const figures: RelayFigures = {
    window,
    peakInFlight: 0,
    peakClientBuffered: 0,
    peakTunnelBuffered: 0,
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: SessionOutcome): void => {
      if (done) return;
      done = true;
      resolve({ outcome, figures });
    };
    const abort = (error: MvmError): void => {
      stream.cancel();
      finish({ kind: 'error', error: sessionError(error) });
    };
    const events: StreamEvents = {
      message(message) {
        if (message.type === 'started') input = new CreditLedger(message.stdinWindow);
        if (message.type === 'exit' || message.type === 'error') {
          finish(
            message.type === 'exit'
              ? { kind: 'exit', exit: message }
              : { kind: 'error', error: message.error },
          );
        } else {
          client.send(message);
        }
      },
      data(channel, bytes) {
        if (!output.spend(bytes.length)) {
          abort(new InternalError(`node '${tunnel.nodeId}' sent output past the client's credit`));
          return;
        }
        client.data(channel, bytes);
        figures.peakInFlight = Math.max(figures.peakInFlight, output.inFlight);
        figures.peakClientBuffered = Math.max(figures.peakClientBuffered, client.bufferedAmount);
      },
      credit(bytes) {
        const passed = input?.grant(bytes) ?? 0;
        if (passed > 0) client.send({ type: 'credit', bytes: passed });
      },
      lost(error) {
        finish({ kind: 'error', error: sessionError(error) });
      },
    };
    const stream: TunnelStream = tunnel.open(ref, start, events);
    const listener: ClientListener = {
      control: (message) => onControl(message, stream, output),
      input(bytes) {
        if (!input?.spend(bytes.length)) {
          abort(new ValidationError('the client sent input past the credit it was given'));
          return;
        }
        stream.stdin(bytes);
        figures.peakTunnelBuffered = Math.max(figures.peakTunnelBuffered, stream.bufferedAmount);
      },
      closed(error) {
        stream.cancel();
        finish(error ? { kind: 'error', error: sessionError(error) } : { kind: 'disconnected' });
      },
    };
    client.listen(listener);
  });
}

function onControl(message: ClientControl, stream: TunnelStream, output: CreditLedger): void {
  if (message.type === 'credit') {
    const passed = output.grant(message.bytes);
    if (passed > 0) stream.credit(passed);
    return;
  }
  stream.request(message);
}
