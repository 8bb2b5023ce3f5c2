/**
 * The events of an instance watch stream (`/v1/instances/watch`, server-sent events) as the
 * watch tests read them: each event's name, id and parsed data.
 */
import { expect } from 'vitest';
import { readServerSentEvents } from '../../src/drivers/coordinator-api/sse.ts';
import { until } from './until.ts';

export interface SeenEvent {
  event: string | undefined;
  id: string | undefined;
  data: {
    type?: string;
    since?: number;
    horizon?: number;
    reason?: string;
    instance?: { id: string; poolId: string };
  };
}

/** Reads `response`'s events into `into` until `signal` aborts (or `onEvent` aborts it). */
export function recordEvents(
  response: Response,
  signal: AbortSignal,
  into: SeenEvent[],
  onEvent: (got: SeenEvent[]) => void = () => {},
): Promise<void> {
  return readServerSentEvents(response, signal, (event, data, id) => {
    into.push({ event, id, data: JSON.parse(data) as SeenEvent['data'] });
    onEvent(into);
  });
}

/**
 * The events of a watch at `url` (fetched over the network with `token`) until `enough` says
 * so; then the stream is closed. The watch must answer 200.
 */
export async function watchEvents(
  url: string,
  token: string,
  enough: (got: SeenEvent[]) => boolean,
  lastEventId?: string,
): Promise<SeenEvent[]> {
  const stop = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const response = await fetch(url, { headers, signal: stop.signal });
  expect(response.status).toBe(200);
  const got: SeenEvent[] = [];
  const reading = recordEvents(response, stop.signal, got, () => {
    if (enough(got)) stop.abort();
  });
  await until('the events', () => (stop.signal.aborted ? true : undefined), 10_000);
  await reading.catch(() => undefined);
  return got;
}
