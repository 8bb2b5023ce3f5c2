/**
 * The slice of the WebAssembly JS API that mvm uses. TypeScript declares it only in its DOM
 * libraries, which this Node project does not load; Node 20 provides it as a global.
 */
declare namespace WebAssembly {
  type ExternalKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
  interface ModuleImportDescriptor {
    module: string;
    name: string;
    kind: ExternalKind;
  }
  interface ModuleExportDescriptor {
    name: string;
    kind: ExternalKind;
  }
  class Module {
    constructor(bytes: Uint8Array);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
