import type { EffectOp } from './effect-journal.ts';

/**
 * The job KV's requests (ABI v1): `kv_get {"key": K}` answers `{"value": V | null,
 * "version": N}` (0 when absent); `kv_set {"key": K, "value": V}` answers `{"version": N}`.
 * Keys and values are strings. The KV belongs to the tenant: every job of the tenant sees the
 * same keys (a job that wants its own prefixes them with its id). A malformed request is
 * answered `{"error": …}` rather than failing the job: the module decides.
 */
export const MAX_KV_KEY_CHARS = 512;
export const MAX_KV_VALUE_CHARS = 64 * 1024;

export type KvRequest = { key: string; value?: string } | { error: string };

export function kvRequest(op: EffectOp, text: string): KvRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { error: `${op}: the request is not JSON` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { error: `${op}: not an object` };
  const { key, value } = parsed as { key?: unknown; value?: unknown };
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KV_KEY_CHARS) {
    return { error: `${op}: key must be a string of 1-${MAX_KV_KEY_CHARS} characters` };
  }
  if (key.includes('\u0000')) return { error: `${op}: key holds NUL` };
  if (op === 'kv_get') return { key };
  if (typeof value !== 'string' || value.length > MAX_KV_VALUE_CHARS) {
    return { error: `${op}: value must be a string of at most ${MAX_KV_VALUE_CHARS} characters` };
  }
  if (value.includes('\u0000')) return { error: `${op}: value holds NUL` };
  return { key, value };
}
