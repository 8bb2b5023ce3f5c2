/**
 * Reads the parts of a WebAssembly binary that WebAssembly.Module's reflection does not show
 * in Node 20: function signatures and memory limits (maximum, shared, 64-bit). Call it only on
 * bytes WebAssembly.Module accepted: it trusts the structure V8 validated and throws
 * WasmFormatError on anything it does not expect rather than guessing.
 */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface MemoryLimits {
  /** In 64 KiB pages. */
  initial: number;
  maximum: number | null;
  shared: boolean;
  memory64: boolean;
}

export type ImportDesc =
  | { kind: 'function'; type: FuncType }
  | { kind: 'memory'; limits: MemoryLimits }
  | { kind: 'table' | 'global' | 'tag' };

export interface WasmImport {
  module: string;
  name: string;
  desc: ImportDesc;
}

export interface WasmExport {
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  index: number;
}

export interface WasmSections {
  imports: WasmImport[];
  exports: WasmExport[];
  /** Memories the module defines itself (not imported). */
  memories: MemoryLimits[];
  /** The signature of every function by index: imported ones first, as the spec numbers them. */
  functions: FuncType[];
}

export class WasmFormatError extends Error {}

const valTypes: Readonly<Record<number, ValType>> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
const exportKinds = ['function', 'table', 'memory', 'global', 'tag'] as const;
const SECTION = { type: 1, import: 2, function: 3, memory: 5, export: 7 } as const;

class Reader {
  offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  byte(): number {
    const value = this.bytes[this.offset];
    if (value === undefined) throw new WasmFormatError('unexpected end of module');
    this.offset += 1;
    return value;
  }

  /** Unsigned LEB128 up to 32 bits (every count, index and limit we read). */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new WasmFormatError('malformed LEB128 integer');
  }

  name(): string {
    const length = this.u32();
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    if (slice.length !== length) throw new WasmFormatError('unexpected end of module');
    this.offset += length;
    return new TextDecoder('utf-8', { fatal: true }).decode(slice);
  }

  vec<T>(item: () => T): T[] {
    const count = this.u32();
    return Array.from({ length: count }, item);
  }

  sub(length: number): Reader {
    const end = this.offset + length;
    if (end > this.bytes.length) throw new WasmFormatError('section runs past the end');
    const reader = new Reader(this.bytes.subarray(this.offset, end));
    this.offset = end;
    return reader;
  }
}

export function readWasmSections(bytes: Uint8Array): WasmSections {
  const reader = new Reader(bytes);
  reader.sub(8); // magic and version: WebAssembly.Module checked them
  const types: FuncType[] = [];
  const sections: WasmSections = { imports: [], exports: [], memories: [], functions: [] };
  while (!reader.done) {
    const id = reader.byte();
    const body = reader.sub(reader.u32());
    if (id === SECTION.type) types.push(...body.vec(() => funcType(body)));
    if (id === SECTION.import) sections.imports = body.vec(() => importEntry(body, types));
    if (id === SECTION.function)
      sections.functions.push(...body.vec(() => typeAt(types, body.u32())));
    if (id === SECTION.memory) sections.memories = body.vec(() => limits(body));
    if (id === SECTION.export) sections.exports = body.vec(() => exportEntry(body));
  }
  const imported = sections.imports.flatMap((i) =>
    i.desc.kind === 'function' ? [i.desc.type] : [],
  );
  sections.functions = [...imported, ...sections.functions];
  return sections;
}

function funcType(r: Reader): FuncType {
  const form = r.byte();
  if (form !== 0x60)
    throw new WasmFormatError(`type form 0x${form.toString(16)} is not a plain function type`);
  return { params: r.vec(() => valType(r)), results: r.vec(() => valType(r)) };
}

function valType(r: Reader): ValType {
  const code = r.byte();
  const type = valTypes[code];
  if (type === undefined)
    throw new WasmFormatError(`value type 0x${code.toString(16)} is not supported`);
  return type;
}

function typeAt(types: readonly FuncType[], index: number): FuncType {
  const type = types[index];
  if (type === undefined) throw new WasmFormatError(`type index ${index} is out of range`);
  return type;
}

function importEntry(r: Reader, types: readonly FuncType[]): WasmImport {
  const module = r.name();
  const name = r.name();
  const kind = r.byte();
  if (kind === 0x00)
    return { module, name, desc: { kind: 'function', type: typeAt(types, r.u32()) } };
  if (kind === 0x02) return { module, name, desc: { kind: 'memory', limits: limits(r) } };
  if (kind === 0x01) {
    r.byte(); // element type
    limits(r);
    return { module, name, desc: { kind: 'table' } };
  }
  if (kind === 0x03) {
    valType(r);
    r.byte(); // mutability
    return { module, name, desc: { kind: 'global' } };
  }
  if (kind === 0x04) {
    r.byte(); // attribute
    r.u32();
    return { module, name, desc: { kind: 'tag' } };
  }
  throw new WasmFormatError(`import kind 0x${kind.toString(16)} is not known`);
}

function limits(r: Reader): MemoryLimits {
  const flags = r.byte();
  if (flags > 0x07) throw new WasmFormatError(`limits flags 0x${flags.toString(16)} are not known`);
  const initial = r.u32();
  const maximum = (flags & 0x01) !== 0 ? r.u32() : null;
  return { initial, maximum, shared: (flags & 0x02) !== 0, memory64: (flags & 0x04) !== 0 };
}

function exportEntry(r: Reader): WasmExport {
  const name = r.name();
  const code = r.byte();
  const kind = exportKinds[code];
  if (kind === undefined)
    throw new WasmFormatError(`export kind 0x${code.toString(16)} is not known`);
  return { name, kind, index: r.u32() };
}
