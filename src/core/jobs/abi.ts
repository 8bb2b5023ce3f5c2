import type { FuncType } from './wasm-sections.ts';

/**
 * mvm's job ABI, version 1: everything a job module may import, all from module `mvm`, and the
 * one export it must have. Requests and responses cross linear memory as UTF-8 JSON bytes.
 * Nothing else is importable, so a module has no way to observe time, randomness or the
 * network except through `call`, which the executor journals (docs/jobs.md).
 */
export const ABI_MODULE = 'mvm';
export const ABI_VERSION = 1;

/** The memory the host creates for the job, sized by the tenant's quota. Required. */
export const ABI_MEMORY = 'memory';

const i32 = 'i32' as const;

export const abiFunctions: Readonly<Record<string, FuncType>> = {
  /**
   * call(op, req_ptr, req_len, resp_ptr, resp_cap) -> len: performs effect `op` (abiOps) with
   * the JSON request at req_ptr; writes up to resp_cap bytes of the JSON response at resp_ptr
   * and returns its full length (more than resp_cap: read the rest with `result`), or a
   * negative error.
   */
  call: { params: [i32, i32, i32, i32, i32], results: [i32] },
  /** result(ptr, cap) -> len: copies the last call's whole response again, for a larger buffer. */
  result: { params: [i32, i32], results: [i32] },
  /** input(ptr, cap) -> len: copies the job's input JSON; returns its length. */
  input: { params: [i32, i32], results: [i32] },
  /** output(ptr, len): sets the job's result JSON (the last call wins). */
  output: { params: [i32, i32], results: [] },
};

/** The `op` codes of `call`. Each is journaled with its sequence number. */
export const abiOps = {
  http_fetch: 1,
  kv_get: 2,
  kv_set: 3,
  log: 4,
  now: 5,
  random: 6,
  sleep: 7,
} as const;

/** run() -> status: 0 succeeds; anything else fails the attempt (retried with backoff). */
export const ABI_ENTRY = 'run';
export const abiEntryType: FuncType = { params: [], results: [i32] };

export const WASM_PAGE_BYTES = 65_536;
export const PAGES_PER_MIB = 16;
