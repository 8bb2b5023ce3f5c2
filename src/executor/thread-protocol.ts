import type { MessagePort } from 'node:worker_threads';

/**
 * What the executor's main thread and its wasm thread say to each other. The wasm thread's
 * only synchronous host call blocks on `flag` (Atomics.wait) after posting a `CallRequest` on
 * `port`; the main thread performs the effect, posts a `CallAnswer` on the same port, sets the
 * flag and notifies; the wasm thread reads the answer with receiveMessageOnPort.
 */
export interface ThreadData {
  wasm: Uint8Array;
  input: string;
  memory: { initial: number; maximum: number };
  /** Int32Array over a SharedArrayBuffer of 4 bytes: 0 while waiting, 1 when answered. */
  flag: SharedArrayBuffer;
  port: MessagePort;
}

export interface CallRequest {
  op: number;
  request: Uint8Array;
}

export type CallAnswer =
  /** The response JSON text for the module. */
  | { response: string }
  /** A negative status for `call` to return (an unknown op). */
  | { status: number }
  /** The job stops here (lease lost, failed, parked): unwind the module. */
  | { stop: true };

export type ThreadEnd =
  | { type: 'done'; status: number; output: string }
  | { type: 'trap'; message: string }
  | { type: 'stopped' };

/** `call` returns this for an op code ABI v1 does not define. */
export const E_UNKNOWN_OP = -1;
