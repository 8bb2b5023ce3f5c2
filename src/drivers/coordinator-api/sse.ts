import { createParser } from 'eventsource-parser';

/**
 * Reads a stream of server-sent events, handing each message's event name and data over as it
 * comes, until `signal` aborts (then it returns quietly) or the server closes the stream.
 *
 * An abort cancels the body itself rather than trusting the request's signal to end it: a
 * `Request`'s signal follows the one it was made with only while undici still holds the
 * request's own controller, which it may collect once the request object is gone (an
 * in-process `app.fetch` then streams on forever).
 */
export async function readServerSentEvents(
  response: Response,
  signal: AbortSignal,
  onMessage: (event: string | undefined, data: string, id: string | undefined) => void,
): Promise<void> {
  const parser = createParser({
    onEvent: (message) => onMessage(message.event, message.data, message.id),
  });
  const decoder = new TextDecoder();
  const reader = response.body?.getReader();
  if (reader === undefined) return;
  const cancel = () => void reader.cancel(signal.reason).catch(() => undefined);
  if (signal.aborted) return cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal.aborted) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
