import pg from 'pg';
import type { Logger } from '../ports/logger.ts';
import { parseStoreUrl } from './store-url.ts';

/** The channel submits and requeues NOTIFY on (repos/job-queue-repo.ts announce()). */
export const JOBS_CHANNEL = 'mvm_jobs';

/** How long to wait before listening again after the connection dropped. */
const RECONNECT_MS = 1_000;

export interface JobListener {
  close(): Promise<void>;
}

/**
 * Postgres only: LISTENs on one dedicated connection and hands each `tenant/pool` another
 * replica (or this one) announced to `onJobs`, so a claim waiting on this replica wakes within
 * milliseconds of a submit anywhere. A dropped connection is reopened; what was announced
 * meanwhile is caught by the claims' bounded wait, never lost for good. Returns undefined on
 * SQLite, where every writer is this process and the in-process notifier is enough.
 */
export function listenForJobs(
  url: string,
  onJobs: (key: string) => void,
  logger?: Logger,
): JobListener | undefined {
  const target = parseStoreUrl(url);
  if (target.dialect !== 'postgres') return undefined;
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: target.connectionString, keepAlive: true });
    next.on('notification', (message) => {
      if (message.channel === JOBS_CHANNEL && message.payload) onJobs(message.payload);
    });
    next.on('error', (err) => {
      logger?.warn({ err }, 'job LISTEN connection failed; reconnecting');
      void next.end().catch(() => undefined);
      if (!closed) timer = setTimeout(() => void connect().catch(retry), RECONNECT_MS);
    });
    await next.connect();
    await next.query(`LISTEN ${JOBS_CHANNEL}`);
    if (closed) await next.end();
    else client = next;
  };
  const retry = (err: unknown) => {
    logger?.warn({ err }, 'cannot LISTEN for jobs; retrying');
    if (!closed) timer = setTimeout(() => void connect().catch(retry), RECONNECT_MS);
  };
  const ready = connect().catch(retry);
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await ready;
      await client?.end().catch(() => undefined);
    },
  };
}
