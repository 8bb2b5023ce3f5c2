import { ApiError, post } from './api.mjs';

/** Binary messages carry one channel byte first (docs/exec.md). */
const CHANNELS = { 1: 'stdout', 2: 'stderr' };
/** Input goes on channel 0, at most this many bytes a message. */
const STDIN = 0;
const INPUT_CHUNK = 16 * 1024;

/**
 * A session on an instance's exec or logs WebSocket. A browser's WebSocket cannot carry the
 * Authorization header, so the page first mints a single-use ticket over the API (with the
 * token, in a header as always) and opens the socket with `?ticket=`; the ticket lasts 30 s,
 * opens this one session and is spent by it. Output is decoded per channel and handed to
 * `onOutput`; credit for it is granted back as it is shown, so the node sends no more than a
 * window ahead of the page.
 *
 * With `onBytes` instead (a terminal), output is handed on as bytes with a `drawn` callback,
 * and its credit is granted only when that is called (when the terminal has drawn it).
 * `input(bytes)` sends input within the credit the session granted (`stdinWindow`, then
 * `credit` messages), queueing what does not fit yet.
 *
 * Resolves `done` with `{ exit }` (the command's status), `{ error }` (the coordinator's or
 * node's refusal) or `{ closed }` (the socket ended without either).
 */
export async function openSession(
  instancePath,
  kind,
  start,
  { onOutput, onBytes, onStarted, onOpen } = {},
) {
  const ticket = await post(`${instancePath}/tickets`, { session: kind });
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${location.host}${ticket.path}?ticket=${encodeURIComponent(ticket.ticket)}`;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const send = (message) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  };
  // Input: bytes waiting for credit, and the credit the session has granted.
  const pending = [];
  let inputCredit = 0;
  let ending = false;
  let endSent = false;
  const flushInput = () => {
    while (pending.length > 0 && inputCredit > 0 && ws.readyState === WebSocket.OPEN) {
      const head = pending[0];
      const n = Math.min(head.length, inputCredit, INPUT_CHUNK);
      const message = new Uint8Array(n + 1);
      message[0] = STDIN;
      message.set(head.subarray(0, n), 1);
      ws.send(message);
      inputCredit -= n;
      if (n === head.length) pending.shift();
      else pending[0] = head.subarray(n);
    }
    // The input's end goes once everything before it has.
    if (ending && !endSent && pending.length === 0 && ws.readyState === WebSocket.OPEN) {
      endSent = true;
      send({ type: 'eof' });
    }
  };
  let settled = false;
  const done = new Promise((resolve) => {
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    ws.addEventListener('open', () => {
      send({ type: 'start', session: start });
      onOpen?.();
    });
    ws.addEventListener('message', (event) => {
      if (typeof event.data === 'string') {
        const message = JSON.parse(event.data);
        if (message.type === 'started') {
          inputCredit += message.stdinWindow;
          flushInput();
          onStarted?.(message);
        } else if (message.type === 'credit') {
          inputCredit += message.bytes;
          flushInput();
        } else if (message.type === 'exit') settle({ exit: message });
        else if (message.type === 'error') settle({ error: message.error });
        return;
      }
      const bytes = new Uint8Array(event.data);
      const channel = CHANNELS[bytes[0]];
      if (channel === undefined || bytes.length < 2) return;
      if (onBytes) {
        const data = bytes.subarray(1);
        onBytes(channel, data, () => send({ type: 'credit', bytes: data.length }));
        return;
      }
      onOutput?.(channel, decoders[channel].decode(bytes.subarray(1), { stream: true }));
      send({ type: 'credit', bytes: bytes.length - 1 });
    });
    ws.addEventListener('close', (event) =>
      settle({ closed: { code: event.code, reason: event.reason } }),
    );
  });
  return {
    done,
    /** Sends a signal to the command (exec sessions). */
    signal: (name) => send({ type: 'signal', signal: name }),
    /** Input bytes (a terminal's keystrokes), sent as the session's credit allows. */
    input: (bytes) => {
      if (bytes.length === 0) return;
      pending.push(bytes);
      flushInput();
    },
    /** Ends the input (a copy's content) once what is queued has gone. */
    end: () => {
      ending = true;
      flushInput();
    },
    /** A terminal's new size. */
    resize: (cols, rows) => send({ type: 'resize', cols, rows }),
    close: () => ws.close(1000),
  };
}

/** What to say about a session that could not start or ended without an exit. */
export function sessionProblem(outcome, error) {
  if (error instanceof ApiError) return error.message;
  if (error !== undefined) return String(error?.message ?? error);
  if (outcome?.error) return outcome.error.message;
  if (outcome?.closed) {
    const { code, reason } = outcome.closed;
    return `the session ended (socket closed ${code}${reason ? `: ${reason}` : ''})`;
  }
  return undefined;
}
