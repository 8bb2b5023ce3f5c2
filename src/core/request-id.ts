/**
 * Request ids (X-Request-Id): one id follows an action from the client through the coordinator
 * to the agent, in every log line each of them writes for it. A caller may choose it; it is
 * bounded and plain so it is safe in logs and headers.
 */
export const REQUEST_ID_HEADER = 'x-request-id';
export const MAX_REQUEST_ID_LENGTH = 128;
export const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isRequestId(value: string): boolean {
  return REQUEST_ID.test(value);
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A fresh id from random bytes (hex), e.g. `req-3f9c…`. */
export function requestIdFrom(bytes: Uint8Array): string {
  let id = 'req-';
  for (const b of bytes) id += HEX[b] ?? '';
  return id;
}
