import type { Logger } from '../../ports/logger.ts';

/** How a store-reading stream paces itself. */
export interface SsePace {
  /** How often it reads the store. */
  pollMs: number;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  keepaliveMs: number;
}

export interface SsePoll extends SsePace {
  /** The first comment line, sent at once so the client knows it is connected. */
  hello: string;
  /** One read of the store: the frames to send now ('' for none). */
  read(): Promise<string>;
  signal: AbortSignal;
  logger?: Logger;
  /** Names the stream in the log line of a failed read. */
  what: string;
}

/**
 * Server-sent events made by reading the store every `pollMs` (so every replica's writes
 * arrive), with a keep-alive comment when the stream is quiet; a failed read is logged and
 * retried at the next tick. Ends when the client goes away. Used by `events --follow` and
 * `instance list --watch`.
 */
export function pollingSse(poll: SsePoll): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = Date.now();
  let closed = false;
  const stop = () => {
    closed = true;
    clearTimeout(timer);
  };
  return new ReadableStream<Uint8Array>({
    start: (controller) => {
      // The client went away: no more reads, and the stream ends (an in-process reader too).
      const end = () => {
        if (closed) return;
        stop();
        controller.close();
      };
      const tick = async (): Promise<void> => {
        if (poll.signal.aborted || closed) return end();
        try {
          const text = await poll.read();
          if (poll.signal.aborted || closed) return end();
          // Frames, or a comment once the stream has been quiet for keepaliveMs.
          const out =
            text !== '' || Date.now() - lastWrite < poll.keepaliveMs ? text : ': keepalive\n\n';
          if (out !== '') {
            controller.enqueue(encoder.encode(out));
            lastWrite = Date.now();
          }
        } catch (err) {
          poll.logger?.warn({ err }, `${poll.what} read failed; retrying`);
        }
        timer = setTimeout(() => void tick(), poll.pollMs);
      };
      controller.enqueue(encoder.encode(`: ${poll.hello}\n\n`));
      poll.signal.addEventListener('abort', end, { once: true });
      void tick();
    },
    cancel: stop,
  });
}

/** The answer carrying a stream of server-sent events. */
export function sseResponse(stream: ReadableStream<Uint8Array>): Response {
  return new Response(stream, {
    headers: {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    },
  });
}
