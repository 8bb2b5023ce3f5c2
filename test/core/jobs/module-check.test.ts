import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.ts';
import { MAX_MODULE_BYTES, checkJobModule } from '../../../src/core/jobs/module-check.ts';
import { readWasmSections } from '../../../src/core/jobs/wasm-sections.ts';
import { wat } from '../../support/wat.ts';

const limits = { maxMemoryMib: 1, maxModuleBytes: MAX_MODULE_BYTES };
const CALL = '(param i32 i32 i32 i32 i32) (result i32)';

/** A module with everything right, where each test swaps one part. */
function module(parts: { memory?: string; imports?: string; body?: string } = {}): Uint8Array {
  const memory = parts.memory ?? '(import "mvm" "memory" (memory 1 16))';
  const imports =
    parts.imports ??
    `(import "mvm" "call" (func $call ${CALL}))
     (import "mvm" "input" (func $input (param i32 i32) (result i32)))
     (import "mvm" "output" (func $output (param i32 i32)))
     (import "mvm" "result" (func $result (param i32 i32) (result i32)))`;
  const body = parts.body ?? '(func (export "run") (result i32) (i32.const 0))';
  return wat(`(module ${imports} ${memory} ${body})`);
}

function problemsOf(bytes: Uint8Array, maxMemoryMib = 1): readonly string[] {
  try {
    checkJobModule(bytes, { ...limits, maxMemoryMib });
  } catch (error) {
    if (error instanceof ValidationError) return error.problems;
    throw error;
  }
  return [];
}

describe('job module check', () => {
  it('accepts a module that keeps to ABI v1 and reports its memory and the calls it uses', () => {
    expect(checkJobModule(module(), limits)).toEqual({
      memory: { initial: 1, maximum: 16 },
      uses: ['call', 'input', 'output', 'result'],
    });
    expect(problemsOf(module({ imports: '' }))).toEqual([]);
  });

  it('reads the same imports and exports as V8 does', () => {
    const bytes = module({
      body: '(func (export "run") (result i32) (i32.const 0)) (global (export "g") i32 (i32.const 1))',
    });
    const compiled = new WebAssembly.Module(bytes);
    const sections = readWasmSections(bytes);
    expect(
      sections.imports.map((i) => ({ module: i.module, name: i.name, kind: i.desc.kind })),
    ).toEqual(WebAssembly.Module.imports(compiled));
    expect(sections.exports.map((e) => ({ name: e.name, kind: e.kind }))).toEqual(
      WebAssembly.Module.exports(compiled),
    );
  });

  it('refuses bytes that are not WebAssembly, saying so', () => {
    const text = new TextEncoder().encode('(module)');
    expect(() => checkJobModule(text, limits)).toThrow(
      /not a WebAssembly module this runtime accepts/,
    );
    expect(() => checkJobModule(new Uint8Array(), limits)).toThrow(ValidationError);
  });

  it('refuses a module over the size limit before compiling it', () => {
    expect(() => checkJobModule(module(), { ...limits, maxModuleBytes: 10 })).toThrow(
      /over the 10-byte limit/,
    );
  });

  it('refuses imports from outside module mvm, such as WASI', () => {
    const wasi =
      '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))';
    expect(problemsOf(module({ imports: wasi }))).toEqual([
      "import wasi_snapshot_preview1.fd_write: only imports from module 'mvm' are allowed",
    ]);
  });

  it('refuses mvm imports the ABI does not have, and ABI imports of the wrong type', () => {
    const imports = `(import "mvm" "exec" (func (param i32)))
      (import "mvm" "call" (func (param i32 i32) (result i32)))
      (import "mvm" "memory" (func))`;
    expect(problemsOf(module({ imports, memory: '' }))).toEqual([
      'import mvm.exec is not part of the ABI (it has: memory, call, result, input, output)',
      "import mvm.call has type (i32, i32) -> (i32), the ABI's is (i32, i32, i32, i32, i32) -> (i32)",
      'import mvm.memory must be a memory',
      'it does not import its memory as mvm.memory',
    ]);
  });

  it('refuses a module that defines its own memory instead of importing it', () => {
    expect(problemsOf(module({ memory: '(memory 1 16)' }))).toEqual([
      'it defines its own memory; import it as mvm.memory instead',
      'it does not import its memory as mvm.memory',
    ]);
  });

  it('wants a memory maximum, within the tenant quota', () => {
    expect(problemsOf(module({ memory: '(import "mvm" "memory" (memory 1))' }))).toEqual([
      'its memory declares no maximum; declare one of at most 16 pages (1 MiB)',
    ]);
    expect(problemsOf(module({ memory: '(import "mvm" "memory" (memory 1 17))' }))).toEqual([
      "its memory maximum of 17 pages is over the tenant's 1 MiB (16 pages)",
    ]);
    expect(problemsOf(module({ memory: '(import "mvm" "memory" (memory 1 17))' }), 2)).toEqual([]);
  });

  it('refuses shared memory', () => {
    expect(problemsOf(module({ memory: '(import "mvm" "memory" (memory 1 16 shared))' }))).toEqual([
      'its memory is shared; jobs run single-threaded, declare it unshared',
    ]);
  });

  it('wants a run export of type () -> (i32)', () => {
    const want = "export a function 'run' of type () -> (i32)";
    expect(
      problemsOf(module({ body: '(func (export "main") (result i32) (i32.const 0))' })),
    ).toEqual([`it has no 'run' export; ${want}`]);
    expect(problemsOf(module({ body: '(func (export "run") (param i32))' }))).toEqual([
      `its 'run' has type (i32) -> (); ${want}`,
    ]);
    expect(problemsOf(module({ body: '(global (export "run") i32 (i32.const 0))' }))).toEqual([
      `its 'run' export is a global; ${want}`,
    ]);
  });

  it('finds the signature of a run that re-exports an imported function', () => {
    const imports = '(import "mvm" "input" (func $input (param i32 i32) (result i32)))';
    expect(problemsOf(module({ imports, body: '(export "run" (func $input))' }))).toEqual([
      "its 'run' has type (i32, i32) -> (i32); export a function 'run' of type () -> (i32)",
    ]);
  });

  it('reports every problem at once, in one message', () => {
    const bytes = module({
      memory: '(import "mvm" "memory" (memory 1 64 shared))',
      imports: '(import "env" "abort" (func (param i32 i32 i32 i32)))',
      body: '',
    });
    expect(() => checkJobModule(bytes, limits)).toThrow(
      "the job module is refused: import env.abort: only imports from module 'mvm' are allowed; its memory is shared",
    );
    expect(problemsOf(bytes)).toHaveLength(4);
  });

  it('never fails otherwise than with a ValidationError, whatever the bytes (fuzz)', () => {
    const good = module();
    const mutated = fc
      .array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        maxLength: 4,
      })
      .map((edits) => {
        const bytes = good.slice();
        for (const [at, value] of edits) bytes[at] = value;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        try {
          checkJobModule(bytes, limits);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
