// The mvm job SDK for AssemblyScript: ABI v1 (docs/jobs.md) as plain functions. Requests and
// responses are JSON text; every effect goes through `call`, which the executor journals.

@external("mvm", "call")
declare function mvm_call(op: i32, reqPtr: usize, reqLen: i32, respPtr: usize, respCap: i32): i32;
@external("mvm", "result")
declare function mvm_result(ptr: usize, cap: i32): i32;
@external("mvm", "input")
declare function mvm_input(ptr: usize, cap: i32): i32;
@external("mvm", "output")
declare function mvm_output(ptr: usize, len: i32): void;

export const HTTP_FETCH = 1;
export const KV_GET = 2;
export const KV_SET = 3;
export const LOG = 4;
export const NOW = 5;
export const RANDOM = 6;
export const SLEEP = 7;

/** Performs effect `op` with the JSON request; returns the JSON response. */
export function call(op: i32, request: string): string {
  const req = String.UTF8.encode(request);
  let buf = new ArrayBuffer(4096);
  const n = mvm_call(op, changetype<usize>(req), req.byteLength, changetype<usize>(buf), buf.byteLength);
  if (n < 0) unreachable();
  if (n > buf.byteLength) {
    buf = new ArrayBuffer(n);
    mvm_result(changetype<usize>(buf), n);
  }
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), n);
}

/** The job's input JSON text. */
export function input(): string {
  let buf = new ArrayBuffer(4096);
  const n = mvm_input(changetype<usize>(buf), buf.byteLength);
  if (n > buf.byteLength) {
    buf = new ArrayBuffer(n);
    mvm_input(changetype<usize>(buf), n);
  }
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), n);
}

/** Sets the job's result (JSON text). */
export function output(json: string): void {
  const bytes = String.UTF8.encode(json);
  mvm_output(changetype<usize>(bytes), bytes.byteLength);
}

/** A JSON string literal of `s`. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) out += '\\"';
    else if (c == 92) out += '\\\\';
    else if (c < 32) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/**
 * The raw text of top-level-ish field `name` in `json`: a string's contents (escapes kept), or
 * a number, true, false or null as written. Enough for the flat answers of ABI v1; "" if absent.
 */
export function field(json: string, name: string): string {
  const key = quote(name) + ':';
  const at = json.indexOf(key);
  if (at < 0) return '';
  let i = at + key.length;
  while (json.charCodeAt(i) == 32) i++;
  if (json.charCodeAt(i) == 34) {
    let j = i + 1;
    while (j < json.length && json.charCodeAt(j) != 34) j += json.charCodeAt(j) == 92 ? 2 : 1;
    return json.slice(i + 1, j);
  }
  let j = i;
  while (j < json.length && json.charCodeAt(j) != 44 && json.charCodeAt(j) != 125) j++;
  return json.slice(i, j).trim();
}

/** An http_fetch; `idempotent`: it may be sent again, with Idempotency-Key <job>:<seq>. */
export function fetch(url: string, method: string, body: string, idempotent: bool): string {
  return call(
    HTTP_FETCH,
    '{"url":' + quote(url) + ',"method":' + quote(method) + ',"body":' + quote(body) +
      ',"idempotent":' + (idempotent ? 'true' : 'false') + '}',
  );
}

/** The tenant's KV value of `key`, or null when it has none. */
export function kvGet(key: string): string | null {
  const answer = call(KV_GET, '{"key":' + quote(key) + '}');
  if (answer.indexOf('"value":null') >= 0) return null;
  return field(answer, 'value');
}

export function kvSet(key: string, value: string): void {
  call(KV_SET, '{"key":' + quote(key) + ',"value":' + quote(value) + '}');
}

export function log(message: string): void {
  call(LOG, '{"message":' + quote(message) + '}');
}
