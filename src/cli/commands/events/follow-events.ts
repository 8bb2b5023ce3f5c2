import { auditEventSchema } from '../../../contract/resources.ts';
import type { AuditEventView } from '../../../contract/resources.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';
import { readServerSentEvents } from '../../../drivers/coordinator-api/sse.ts';

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
  await readServerSentEvents(response, signal, (event, data) => {
    if (event === 'audit') onEvent(auditEventSchema.parse(JSON.parse(data)));
  });
}
