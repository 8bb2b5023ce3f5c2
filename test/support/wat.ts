import binaryen from 'binaryen';

/**
 * Assembles WebAssembly text into a binary with Binaryen (installed with AssemblyScript), for
 * job-module fixtures. Every feature is enabled so fixtures can declare what V8 then refuses
 * (shared or 64-bit memories); the checks under test must refuse them, not the assembler.
 */
export function wat(text: string): Uint8Array {
  const module = binaryen.parseText(text);
  try {
    module.setFeatures(binaryen.Features.All);
    if (!module.validate()) throw new Error(`fixture does not validate:\n${text}`);
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}
