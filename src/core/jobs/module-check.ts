import { ValidationError } from '../errors.ts';
import {
  ABI_ENTRY,
  ABI_MEMORY,
  ABI_MODULE,
  ABI_VERSION,
  PAGES_PER_MIB,
  abiEntryType,
  abiFunctions,
} from './abi.ts';
import { WasmFormatError, readWasmSections } from './wasm-sections.ts';
import type { FuncType, MemoryLimits, WasmSections } from './wasm-sections.ts';

export interface ModuleLimits {
  /** The tenant's memory quota for one job; the module's declared maximum must fit in it. */
  maxMemoryMib: number;
  maxModuleBytes: number;
}

export const MAX_MODULE_BYTES = 8 * 1024 * 1024;

export interface CheckedModule {
  /** The declared memory, in 64 KiB pages. */
  memory: { initial: number; maximum: number };
  /** The ABI functions the module uses. */
  uses: string[];
}

/**
 * Decides whether a job module may be stored: valid WebAssembly (V8 compiles it), only ABI v1
 * imports with their exact signatures, memory imported as `mvm.memory` with a maximum inside
 * the tenant's quota and not shared, a `run` export of the entry signature. Throws one
 * ValidationError listing every problem, so an author fixes them in one go.
 */
export function checkJobModule(bytes: Uint8Array, limits: ModuleLimits): CheckedModule {
  if (bytes.length > limits.maxModuleBytes) {
    throw invalid([`it is ${bytes.length} bytes, over the ${limits.maxModuleBytes}-byte limit`]);
  }
  const sections = compileAndRead(bytes);
  const problems = [
    ...importProblems(sections),
    ...memoryProblems(sections, limits),
    ...entryProblems(sections),
  ];
  if (problems.length > 0) throw invalid(problems);
  const memory = importedMemory(sections);
  return {
    memory: { initial: memory?.initial ?? 0, maximum: memory?.maximum ?? 0 },
    uses: sections.imports.filter((i) => i.desc.kind === 'function').map((i) => i.name),
  };
}

function invalid(problems: string[]): ValidationError {
  return new ValidationError(
    `the job module is refused: ${problems.join('; ')}. docs/jobs.md describes ABI v${ABI_VERSION}`,
    problems,
  );
}

function compileAndRead(bytes: Uint8Array): WasmSections {
  try {
    new WebAssembly.Module(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid([`it is not a WebAssembly module this runtime accepts (${reason})`]);
  }
  try {
    return readWasmSections(bytes);
  } catch (error) {
    if (error instanceof WasmFormatError)
      throw invalid([`it uses a form mvm does not accept: ${error.message}`]);
    throw error;
  }
}

function importProblems(sections: WasmSections): string[] {
  return sections.imports.flatMap(({ module, name, desc }) => {
    const what = `import ${module}.${name}`;
    if (module !== ABI_MODULE)
      return [`${what}: only imports from module '${ABI_MODULE}' are allowed`];
    if (name === ABI_MEMORY) return desc.kind === 'memory' ? [] : [`${what} must be a memory`];
    const expected = abiFunctions[name];
    if (expected === undefined) {
      return [
        `${what} is not part of the ABI (it has: ${[ABI_MEMORY, ...Object.keys(abiFunctions)].join(', ')})`,
      ];
    }
    if (desc.kind !== 'function') return [`${what} must be a function`];
    if (!sameType(desc.type, expected)) {
      return [`${what} has type ${typeText(desc.type)}, the ABI's is ${typeText(expected)}`];
    }
    return [];
  });
}

function importedMemory(sections: WasmSections): MemoryLimits | undefined {
  for (const { module, name, desc } of sections.imports) {
    if (module === ABI_MODULE && name === ABI_MEMORY && desc.kind === 'memory') return desc.limits;
  }
  return undefined;
}

function memoryProblems(sections: WasmSections, limits: ModuleLimits): string[] {
  const problems: string[] = [];
  if (sections.memories.length > 0) {
    problems.push(`it defines its own memory; import it as ${ABI_MODULE}.${ABI_MEMORY} instead`);
  }
  const memory = importedMemory(sections);
  if (memory === undefined) {
    problems.push(`it does not import its memory as ${ABI_MODULE}.${ABI_MEMORY}`);
    return problems;
  }
  const quotaPages = limits.maxMemoryMib * PAGES_PER_MIB;
  if (memory.shared)
    problems.push('its memory is shared; jobs run single-threaded, declare it unshared');
  if (memory.memory64) problems.push('its memory is 64-bit; declare a 32-bit memory');
  if (memory.maximum === null) {
    problems.push(
      `its memory declares no maximum; declare one of at most ${quotaPages} pages (${limits.maxMemoryMib} MiB)`,
    );
  } else if (memory.maximum > quotaPages) {
    problems.push(
      `its memory maximum of ${memory.maximum} pages is over the tenant's ${limits.maxMemoryMib} MiB (${quotaPages} pages)`,
    );
  }
  return problems;
}

function entryProblems(sections: WasmSections): string[] {
  const entry = sections.exports.find((e) => e.name === ABI_ENTRY);
  const want = `export a function '${ABI_ENTRY}' of type ${typeText(abiEntryType)}`;
  if (entry === undefined) return [`it has no '${ABI_ENTRY}' export; ${want}`];
  if (entry.kind !== 'function') return [`its '${ABI_ENTRY}' export is a ${entry.kind}; ${want}`];
  const type = sections.functions[entry.index];
  if (type === undefined || !sameType(type, abiEntryType)) {
    return [`its '${ABI_ENTRY}' has type ${type ? typeText(type) : '?'}; ${want}`];
  }
  return [];
}

function sameType(a: FuncType, b: FuncType): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}

function typeText(type: FuncType): string {
  return `(${type.params.join(', ')}) -> (${type.results.join(', ')})`;
}
