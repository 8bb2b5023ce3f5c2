import { createParser } from 'eventsource-parser';
import { auditEventSchema } from '../../../contract/resources.ts';
import type { AuditEventView } from '../../../contract/resources.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';

/**
 * Reads the coordinator's event stream (server-sent events) from `after`, handing each audit
 * event over as it comes, until `signal` aborts (^C) or the coordinator closes the stream.
 */
export async function followEvents(
  client: ApiClient,
  query: { tenant?: string; after: number },
  signal: AbortSignal,
  onEvent: (event: AuditEventView) => void,
): Promise<void> {
  const response = await client.open('followEvents', { query }, { signal, timeoutMs: 0 });
  const parser = createParser({
    onEvent: (message) => {
      if (message.event === 'audit') onEvent(auditEventSchema.parse(JSON.parse(message.data)));
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body ?? [])
      parser.feed(decoder.decode(chunk, { stream: true }));
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
