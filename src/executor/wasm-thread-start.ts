import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type MessagePort } from 'node:worker_threads';
import type { ThreadData, ThreadEnd } from './thread-protocol.ts';

export interface WasmThread {
  flag: Int32Array;
  /** The thread's end; 'timeout' when it was terminated before it said how it ended. */
  ended: Promise<ThreadEnd | 'timeout'>;
  terminate(): Promise<void>;
}

/**
 * Starts the wasm thread. Built (dist, or the guest's bundle) it is `wasm-thread.mjs` beside
 * this file; from source (tests, `tsx`) a worker does not inherit tsx's loader, so a one-line
 * bootstrap registers it before importing the TypeScript file.
 */
export function startWasmThread(
  init: Omit<ThreadData, 'flag' | 'port'> & { port: MessagePort },
): WasmThread {
  const flag = new SharedArrayBuffer(4);
  const data: ThreadData = { ...init, flag };
  const options = { workerData: data, transferList: [init.port] };
  const here = import.meta.url;
  let worker: Worker;
  if (extname(fileURLToPath(here)) === '.ts') {
    const target = new URL('./wasm-thread.ts', here).href;
    const api = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })`;
    worker = new Worker(boot, { ...options, eval: true });
  } else {
    worker = new Worker(new URL('./wasm-thread.mjs', here), options);
  }
  const ended = new Promise<ThreadEnd | 'timeout'>((resolve) => {
    worker.once('message', (end: ThreadEnd) => resolve(end));
    worker.once('error', (error) => resolve({ type: 'trap', message: error.message }));
    worker.once('exit', () => resolve('timeout'));
  });
  return {
    flag: new Int32Array(flag),
    ended,
    terminate: async () => {
      await worker.terminate();
    },
  };
}
