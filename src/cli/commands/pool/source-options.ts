import { resolve } from 'node:path';
import { parseImageRef } from '../../../core/pool-source.ts';
import { option } from '../../command.ts';
import { id, text } from '../../values.ts';

/** The source options of `pool create` and `pool update`: an OCI image or a flake, or none. */
export const sourceOptions = {
  image: option(
    text('<ref>'),
    'OCI image to build the pool from: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE or docker://NAME[:TAG]',
  ),
  flake: option(
    text('<ref>'),
    "Nix flake to build from (with --profile), e.g. '.' or github:org/repo; mvm builds #tenant-<role>-<profile>",
  ),
  profile: option(id('profile'), 'the flake profile, e.g. minimal or python'),
};

/**
 * Relative paths mean the caller's working directory, which the coordinator does not know:
 * they are made absolute before they are stored (`mvm pool build` packs them from there).
 */
export function absoluteImage(ref: string | undefined): string | undefined {
  const parsed = ref === undefined ? undefined : parseImageRef(ref);
  if (ref === undefined || !parsed || parsed.transport === 'docker' || parsed.path.startsWith('/'))
    return ref;
  const rest = parsed.reference !== undefined ? `:${parsed.reference}` : '';
  return `${parsed.transport}:${resolve(parsed.path)}${rest}`;
}

export function absoluteFlake(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  if (ref === '.' || ref === '..' || ref.startsWith('./') || ref.startsWith('../'))
    return `path:${resolve(ref)}`;
  if (ref.startsWith('path:') && !ref.startsWith('path:/'))
    return `path:${resolve(ref.slice('path:'.length))}`;
  return ref;
}

/** The request fields for the given options, made absolute where they name local paths. */
export function sourceFields(opts: { image?: string; flake?: string; profile?: string }) {
  const image = absoluteImage(opts.image);
  const flake = absoluteFlake(opts.flake);
  return {
    ...(image !== undefined ? { image } : {}),
    ...(flake !== undefined ? { flake } : {}),
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
  };
}
