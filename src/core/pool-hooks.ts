/**
 * A pool's sleep and wake hooks (pure): guest commands the node runs around a sleep and a wake
 * (agent/runtime/hook-steps.ts). `beforeSleep` runs before the drain: a non-zero exit refuses
 * the sleep as a busy guest does (the instance keeps running, the refusal its reason).
 * `afterWake` runs after every wake, `secretsReload` after a wake whose secrets changed.
 * `warmUp` runs in a pool's donor before its base snapshot is taken (clones, docs/clones.md):
 * what it loads is in every clone's memory; a non-zero exit makes no base (clones cold-boot).
 */
import { ValidationError } from './errors.ts';

export const hookNames = ['beforeSleep', 'afterWake', 'secretsReload', 'warmUp'] as const;
export type HookName = (typeof hookNames)[number];

/** Each hook an argv (no shell unless the argv names one). */
export type PoolHooks = Partial<Record<HookName, string[]>>;

export const MAX_HOOK_ARGS = 32;
export const MAX_HOOK_ARG_LENGTH = 1024;

/**
 * A hook as the CLI takes it: a JSON array of strings (`["sh","-c","echo hi > /data/x"]`), or
 * words separated by spaces (`openclaw gateway suspend`), or `none` (null: remove the hook).
 */
export function parseHook(raw: string, label: string): string[] | null {
  const text = raw.trim();
  if (text === 'none') return null;
  const argv = text.startsWith('[') ? jsonArgv(text) : text.split(/\s+/).filter(Boolean);
  if (!argv || argv.length === 0 || argv.length > MAX_HOOK_ARGS) {
    const problem = `${label} '${raw}' must be a command (words, or a JSON array of at most ${MAX_HOOK_ARGS} strings) or none`;
    throw new ValidationError(problem, [problem]);
  }
  return argv;
}

function jsonArgv(text: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string')
      ? (value as string[])
      : undefined;
  } catch {
    return undefined;
  }
}

/** Applies an update: a hook set to null is removed, one absent is kept. */
export function mergeHooks(
  current: PoolHooks,
  change: Partial<Record<HookName, string[] | null>>,
): PoolHooks {
  const next: PoolHooks = { ...current };
  for (const name of hookNames) {
    const value = change[name];
    if (value === null) delete next[name];
    else if (value !== undefined) next[name] = [...value];
  }
  return next;
}

/** Whether a wake must run `secretsReload`: the secrets drive it woke with is not the one before. */
export function secretsChanged(before: string | undefined, now: string | undefined): boolean {
  return before !== undefined && now !== undefined && before !== now;
}
