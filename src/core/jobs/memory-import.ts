/**
 * AssemblyScript's `--importMemory` imports the memory as `env.memory`; ABI v1 wants
 * `mvm.memory`. Both module names are three bytes, so the SDK's build renames it in place:
 * the import entry is `03 'env' 06 'memory' 02` (length-prefixed names, kind memory), and
 * exactly one must be there. Throws when it is not.
 */
const ENTRY = [0x03, ...bytesOf('env'), 0x06, ...bytesOf('memory'), 0x02];

function bytesOf(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

export function renameMemoryImport(wasm: Uint8Array): Uint8Array {
  const found: number[] = [];
  for (let i = 8; i + ENTRY.length <= wasm.length; i += 1) {
    if (ENTRY.every((b, k) => wasm[i + k] === b)) found.push(i);
  }
  if (found.length !== 1) {
    throw new Error(`expected one env.memory import entry, found ${found.length}`);
  }
  const out = wasm.slice();
  out.set(bytesOf('mvm'), (found[0] ?? 0) + 1);
  return out;
}
