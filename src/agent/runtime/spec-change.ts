import { isDeepStrictEqual } from 'node:util';
import { ConflictError } from '../../core/errors.ts';
import { localSpecSchema } from '../../contract/agent-api.ts';
import type { PutInstanceBody, StoredSpec } from '../../contract/agent-api.ts';
import { tenantTapName } from '../network/desired-network.ts';
import type { VmChange, VmRecord } from '../state/vm-repo.ts';
import { defaultTapName } from './vm-key.ts';

type SpecInput = ReturnType<typeof localSpecSchema.parse>;

/** The record a PUT of `body` creates, less what the repository stamps. */
export function newRecordFields(
  key: string,
  body: PutInstanceBody,
): Pick<VmRecord, 'spec' | 'secrets' | 'config'> {
  const spec = localSpecSchema.parse(body.spec);
  return {
    spec: {
      ...spec,
      tap: spec.tap ?? tapFor(key, spec),
      secretsVersion: 1,
      ...configVersion(body),
    },
    secrets: body.secrets ?? {},
    config: body.config ?? null,
  };
}

/**
 * What a PUT of `body` changes in `existing` (spec, secrets, config; applied on the next boot
 * or wake), or undefined when it changes nothing. Pure: the reconciler asks it to learn
 * whether a record is current, the runtime to write the change.
 */
export function specChange(existing: VmRecord, body: PutInstanceBody): VmChange | undefined {
  const spec = localSpecSchema.parse(body.spec);
  const secrets = body.secrets ?? existing.secrets;
  const secretsChanged = !isDeepStrictEqual(secrets, existing.secrets);
  const next: StoredSpec = {
    ...spec,
    // A VMM or snapshot holds the tap by name; otherwise follow the (new) tenant network.
    tap: spec.tap ?? (isLive(existing) ? existing.spec.tap : tapFor(existing.key, spec)),
    // A VM or snapshot runs the image it booted: the record says which until it boots again
    // (then the put before the boot takes the new one), so its reports stay true.
    revision: isLive(existing) ? existing.spec.revision : spec.revision,
    secretsVersion: existing.spec.secretsVersion + (secretsChanged ? 1 : 0),
    ...(body.config
      ? configVersion(body)
      : existing.spec.configVersion
        ? { configVersion: existing.spec.configVersion }
        : {}),
  };
  const config = body.config ?? existing.config;
  if (
    isDeepStrictEqual(next, existing.spec) &&
    !secretsChanged &&
    isDeepStrictEqual(config, existing.config)
  ) {
    return undefined;
  }
  return { spec: next, secrets, config };
}

/** IP/MAC/tap/shape are fixed while a VMM or snapshot holds them: a restore needs the same machine. */
export function assertIdentityKept(existing: VmRecord, next: StoredSpec): void {
  const live = isLive(existing);
  const fixed = ['ip', 'mac', 'tap', 'vcpus', 'memMib', 'role'] as const;
  const changed = fixed.filter((field) => next[field] !== existing.spec[field]);
  if (live && changed.length > 0) {
    throw new ConflictError(
      `instance '${existing.key}' is ${existing.status}; ${changed.join(', ')} cannot change until it is stopped`,
      { changed },
    );
  }
}

function configVersion(body: PutInstanceBody): { configVersion?: string } {
  return body.config ? { configVersion: body.config.version } : {};
}

/** A tenant instance's tap is `mvt<netId>-<octet>` (made by the network driver); else the VMM's. */
function tapFor(key: string, spec: SpecInput): string {
  return tenantTapName(spec) ?? defaultTapName(key);
}

/** A VMM or a snapshot exists: the record's image and identity are in use. */
export function isLive(record: VmRecord): boolean {
  return record.handle !== null || record.snapshot !== null;
}
