import { randomBytes } from 'node:crypto';
import { idempotencyKey, type EffectOp } from '../core/jobs/effect-journal.ts';

/** An http_fetch request (ABI v1). `idempotent`: may be sent again with Idempotency-Key. */
export interface FetchRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  idempotent?: boolean;
}

const FETCH_TIMEOUT_MS = 30_000;
/** A response body beyond this is cut (and said so): an entry's response is at most 1 Mi chars. */
const MAX_BODY_CHARS = 512 * 1024;

/**
 * Performs an effect the worker itself carries out (everything but kv_get/kv_set, which the
 * coordinator performs when it completes the entry). Answers are JSON text for the module;
 * a failed fetch is an answer too (`{"error": …}`), not a crash of the job. `nowMs` is the
 * attempt's clock (job-clock.ts): `now` answers it and `sleep` counts from it.
 */
export async function performEffect(
  op: EffectOp,
  request: unknown,
  where: { jobId: string; seq: number; nowMs: number },
): Promise<string> {
  const fields = (typeof request === 'object' && request !== null ? request : {}) as Record<
    string,
    unknown
  >;
  switch (op) {
    case 'http_fetch':
      return httpFetch(fields as unknown as FetchRequest, where);
    case 'log':
      process.stderr.write(
        `${JSON.stringify({ job: where.jobId, seq: where.seq, log: fields.message ?? null })}\n`,
      );
      return '{}';
    case 'now':
      return JSON.stringify({ ms: where.nowMs });
    case 'random':
      return JSON.stringify({ value: Math.random(), hex: randomBytes(16).toString('hex') });
    case 'sleep':
      return JSON.stringify({
        wakeAt: new Date(where.nowMs + Math.max(0, Number(fields.ms ?? 0))).toISOString(),
      });
    default:
      return JSON.stringify({ error: `${op} is performed by the coordinator` });
  }
}

async function httpFetch(request: FetchRequest, where: { jobId: string; seq: number }) {
  if (typeof request.url !== 'string') return JSON.stringify({ error: 'http_fetch needs a url' });
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  if (request.idempotent === true)
    headers['idempotency-key'] = idempotencyKey(where.jobId, where.seq);
  try {
    const response = await fetch(request.url, {
      method: request.method ?? 'GET',
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const body = await response.text();
    if (body.length <= MAX_BODY_CHARS) return JSON.stringify({ status: response.status, body });
    return JSON.stringify({
      status: response.status,
      body: body.slice(0, MAX_BODY_CHARS),
      truncated: true,
    });
  } catch (error) {
    return JSON.stringify({ error: error instanceof Error ? error.message : String(error) });
  }
}
