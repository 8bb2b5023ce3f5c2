import { createHash } from 'node:crypto';

/**
 * What a pool's base snapshot is made from (docs/clones.md). A clone restores the base's RAM
 * and device state, so anything that shapes them must match: a change of any field is a
 * new base. `scope` keeps bases apart per tenant and pool: a base holds its donor's guest
 * memory (page cache of its drives), which no other pool may inherit.
 */
export interface BaseInputs {
  scope: { tenantId: string; poolId: string };
  /** The revision's image digest (sha256:… or a content hash of the dev image). */
  imageDigest: string;
  /** Kernel identity: its path's content digest or version string. */
  kernel: string;
  /** The VMM binary and its version, e.g. `qemu 8.2.2`. */
  vmmVersion: string;
  vcpus: number;
  memMib: number;
  /** The guest agent's version (its hello `version`), or the init drive's digest. */
  guestAgentVersion: string;
  /**
   * The devices a restore must find in the same order (drive ids, NICs, the data drive's
   * size): a clone with another layout cannot load the base's device state.
   */
  layout: string;
  /** The pool's warm-up command (JSON argv): what it loaded is in the base's memory. */
  warmUp?: string;
}

/** sha256 hex over the inputs, in a fixed order with each field named: same inputs, same key. */
export function baseKey(inputs: BaseInputs): string {
  const fields: [string, string][] = [
    ['v', '1'],
    ['tenant', inputs.scope.tenantId],
    ['pool', inputs.scope.poolId],
    ['image', inputs.imageDigest],
    ['kernel', inputs.kernel],
    ['vmm', inputs.vmmVersion],
    ['vcpus', String(inputs.vcpus)],
    ['mem', String(inputs.memMib)],
    ['agent', inputs.guestAgentVersion],
    ['layout', inputs.layout],
    // Only when set: a pool without one keeps the key it had before warm-ups existed.
    ...(inputs.warmUp !== undefined ? [['warmup', inputs.warmUp] as [string, string]] : []),
  ];
  const hash = createHash('sha256');
  // Length-prefixed, so no two different inputs concatenate to the same text.
  for (const [name, value] of fields) hash.update(`${name}:${value.length}:${value}\n`);
  return hash.digest('hex');
}

/** Which inputs changed between two bases: the reason a base was invalidated, for logs. */
export function baseChanges(old: BaseInputs, now: BaseInputs): string[] {
  const changed: string[] = [];
  if (old.scope.tenantId !== now.scope.tenantId || old.scope.poolId !== now.scope.poolId)
    changed.push('scope');
  for (const field of [
    'imageDigest',
    'kernel',
    'vmmVersion',
    'vcpus',
    'memMib',
    'guestAgentVersion',
    'layout',
    'warmUp',
  ] as const) {
    if (old[field] !== now[field]) changed.push(field);
  }
  return changed;
}
