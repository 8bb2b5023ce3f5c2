import { parseHook, type HookName } from '../../../core/pool-hooks.ts';
import { parsePublish, type PublishedPort } from '../../../core/published-ports.ts';
import { option, repeatableOption } from '../../command.ts';
import type { ValueSpec } from '../../values.ts';

/** `HOSTPORT:GUESTPORT`, or `none` (publish nothing: clears the list on an update). */
const publishPair: ValueSpec<PublishedPort | 'none'> = {
  placeholder: '<host:guest>',
  parse: (raw, label) => (raw.trim() === 'none' ? 'none' : parsePublish(raw, label)),
};

/** A guest command: words, a JSON array of strings, or `none`. */
const hookCommand: ValueSpec<string[] | null> = {
  placeholder: '<command>',
  parse: (raw, label) => parseHook(raw, label),
};

/** The published-port and hook options of `pool create` and `pool update`. */
export const publishOptions = {
  publish: repeatableOption(
    publishPair,
    "forward HOSTPORT on each node holding an instance to its GUESTPORT (repeatable; 'none' publishes nothing); a host port belongs to one pool in the fleet",
  ),
  beforeSleep: option(
    hookCommand,
    "guest command run before a sleep; a non-zero exit refuses the sleep (words, a JSON argv, or 'none')",
  ),
  afterWake: option(hookCommand, "guest command run after every wake (or 'none')"),
  secretsReload: option(
    hookCommand,
    "guest command run after a wake whose secrets changed (or 'none')",
  ),
  warmUp: option(
    hookCommand,
    "guest command run in the donor before the pool's base snapshot is taken (MVM_CLONES=on); a non-zero exit makes no base (or 'none')",
  ),
};

interface PublishOpts {
  publish?: Array<PublishedPort | 'none'> | undefined;
  beforeSleep?: string[] | null | undefined;
  afterWake?: string[] | null | undefined;
  secretsReload?: string[] | null | undefined;
  warmUp?: string[] | null | undefined;
}

/** The request fields the options set; `hooks` as a patch (null removes one). */
export function publishFields(opts: PublishOpts): {
  publish?: PublishedPort[];
  hooks?: Partial<Record<HookName, string[] | null>>;
} {
  const hooks: Partial<Record<HookName, string[] | null>> = {};
  if (opts.beforeSleep !== undefined) hooks.beforeSleep = opts.beforeSleep;
  if (opts.afterWake !== undefined) hooks.afterWake = opts.afterWake;
  if (opts.secretsReload !== undefined) hooks.secretsReload = opts.secretsReload;
  if (opts.warmUp !== undefined) hooks.warmUp = opts.warmUp;
  return {
    ...(opts.publish !== undefined
      ? { publish: opts.publish.filter((p): p is PublishedPort => p !== 'none') }
      : {}),
    ...(Object.keys(hooks).length > 0 ? { hooks } : {}),
  };
}

/** For a create: hooks without removals. */
export function createHooks(
  hooks: Partial<Record<HookName, string[] | null>> | undefined,
): Partial<Record<HookName, string[]>> | undefined {
  if (!hooks) return undefined;
  const set = Object.entries(hooks).filter((e): e is [HookName, string[]] => e[1] !== null);
  return set.length > 0 ? Object.fromEntries(set) : undefined;
}
