/**
 * The wasm thread of the executor: instantiates the job module against ABI v1 and runs `run`.
 * Everything the module asks of the world goes through `call`, which blocks this thread until
 * the main thread has journaled and performed the effect (thread-protocol.ts).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { CallAnswer, ThreadData, ThreadEnd } from './thread-protocol.ts';

class Stop extends Error {}

const data = workerData as ThreadData;
const flag = new Int32Array(data.flag);
const memory = new WebAssembly.Memory(data.memory);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const input = encoder.encode(data.input);
let last = new Uint8Array(0);
let output = 'null';

function read(ptr: number, len: number): Uint8Array {
  return new Uint8Array(memory.buffer, ptr, len).slice();
}

/** Writes what fits and returns the full length, as `call`, `result` and `input` do. */
function write(ptr: number, cap: number, bytes: Uint8Array): number {
  const n = Math.min(cap, bytes.length);
  new Uint8Array(memory.buffer, ptr, n).set(bytes.subarray(0, n));
  return bytes.length;
}

function ask(op: number, request: Uint8Array): CallAnswer {
  Atomics.store(flag, 0, 0);
  data.port.postMessage({ op, request });
  for (;;) {
    Atomics.wait(flag, 0, 0, 1000);
    const message = receiveMessageOnPort(data.port);
    if (message !== undefined) return message.message as CallAnswer;
  }
}

const mvm = {
  memory,
  call(op: number, reqPtr: number, reqLen: number, respPtr: number, respCap: number): number {
    const answer = ask(op, read(reqPtr, reqLen));
    if ('stop' in answer) throw new Stop();
    if ('status' in answer) return answer.status;
    last = encoder.encode(answer.response);
    return write(respPtr, respCap, last);
  },
  result: (ptr: number, cap: number) => write(ptr, cap, last),
  input: (ptr: number, cap: number) => write(ptr, cap, input),
  output(ptr: number, len: number): void {
    output = decoder.decode(read(ptr, len));
  },
};

function run(): ThreadEnd {
  try {
    const module = new WebAssembly.Module(data.wasm);
    const instance = new WebAssembly.Instance(module, { mvm });
    const entry = instance.exports.run as () => number;
    return { type: 'done', status: entry(), output };
  } catch (error) {
    if (error instanceof Stop) return { type: 'stopped' };
    return { type: 'trap', message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.postMessage(run());
