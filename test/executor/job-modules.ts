import { wat } from '../support/wat.ts';

/** A WAT string literal of `text` (every byte escaped, so any JSON fits). */
function literal(text: string): string {
  return `"${[...Buffer.from(text, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}"`;
}

const OP = { http_fetch: 1, kv_get: 2, kv_set: 3, log: 4, now: 5, random: 6, sleep: 7 } as const;
export type Call = [keyof typeof OP, string];

/**
 * A job module that makes `calls` in order (each a JSON request laid out in its data), traps
 * when a call answers a negative status, sets the last response as its output, and returns 0.
 * Written as WAT so a test can put the loopback server's port into the requests.
 */
export function callsModule(calls: Call[]): Uint8Array {
  let offset = 0;
  const data: string[] = [];
  const body: string[] = [];
  for (const [op, request] of calls) {
    const len = Buffer.byteLength(request);
    data.push(`(data (i32.const ${offset}) ${literal(request)})`);
    body.push(
      `(local.set $n (call $call (i32.const ${OP[op]}) (i32.const ${offset}) (i32.const ${len}) (i32.const 60000) (i32.const 4096)))`,
      `(if (i32.lt_s (local.get $n) (i32.const 0)) (then unreachable))`,
    );
    offset += len + 8;
  }
  if (offset > 60000) throw new Error('requests too long for the fixture');
  return wat(`(module
  (import "mvm" "memory" (memory 2 16))
  (import "mvm" "call" (func $call (param i32 i32 i32 i32 i32) (result i32)))
  (import "mvm" "output" (func $output (param i32 i32)))
  ${data.join('\n  ')}
  (func (export "run") (result i32) (local $n i32)
    (local.set $n (i32.const 4))
    (i32.store (i32.const 60000) (i32.const 0x6c6c756e))
    ${body.join('\n    ')}
    (call $output (i32.const 60000) (select (local.get $n) (i32.const 4096) (i32.lt_s (local.get $n) (i32.const 4096))))
    (i32.const 0)))`);
}
