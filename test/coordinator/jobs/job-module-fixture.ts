import { wat } from '../../support/wat.ts';

/** The smallest module ABI v1 accepts: memory from mvm, a `run` that succeeds. */
export const okModule = wat(`(module
  (import "mvm" "memory" (memory 1 16))
  (func (export "run") (result i32) (i32.const 0)))`);

export const okModuleBase64 = Buffer.from(okModule).toString('base64');
