import { identityOf } from '../../core/vm-identity.ts';
import type { VmIdentity } from '../../ports/vmm.ts';
import type { IdentityRepo } from '../state/identity-repo.ts';

/** Each instance's own unprivileged uid/gid for its VMM (core/vm-identity.ts). */
export interface VmIdentities {
  /** Allocated on first use, then stable for the instance's life. */
  of(key: string): Promise<VmIdentity>;
  release(key: string): Promise<void>;
  /** Frees identities no record owns; returns their keys. */
  releaseUnowned(owned: ReadonlySet<string>): Promise<string[]>;
}

export function vmIdentities(repo: IdentityRepo, uidBase: number): VmIdentities {
  return {
    of: async (key) => identityOf(uidBase, await repo.ensure(key)),
    release: (key) => repo.release(key),
    releaseUnowned: (owned) => repo.releaseUnowned(owned),
  };
}
