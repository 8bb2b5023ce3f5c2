import { createParser } from 'eventsource-parser';

/**
 * Reads a stream of server-sent events, handing each message's event name and data over as it
 * comes, until `signal` aborts (then it returns quietly) or the server closes the stream.
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
  try {
    for await (const chunk of response.body ?? [])
      parser.feed(decoder.decode(chunk, { stream: true }));
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
