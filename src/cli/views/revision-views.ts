import { artifactsOf } from '../../core/revision.ts';
import type { RevisionView } from '../../contract/revisions.ts';
import type { Block } from '../render.ts';

/** How revisions look to a human. */
export const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export function sourceText(revision: RevisionView): string {
  const source = revision.source;
  switch (source.kind) {
    case 'dev':
      return `dev image ${source.devImage.slice(0, 12)}`;
    case 'oci':
      return `${source.ref} (${source.digest.slice(0, 19)})`;
    case 'nix':
      return `${source.flake}#${source.attribute}${source.narHash ? ` (${source.narHash.slice(0, 19)})` : ''}`;
  }
}

export function revisionTable(revisions: readonly RevisionView[], pool: string): Block {
  return {
    kind: 'table',
    columns: ['REVISION', 'CURRENT', 'SOURCE', 'SIZE', 'BUILT BY', 'CREATED'],
    rows: revisions.map((r) => [
      r.id.slice(0, 12),
      r.current ? 'yes' : '',
      sourceText(r),
      mib(r.bytes),
      r.builtBy,
      r.createdAt,
    ]),
    empty: `pool '${pool}' has no revisions; build one with 'mvm pool build ${pool}'`,
  };
}

export function revisionFields(r: RevisionView): Block {
  const { kernel, rootfs } = r.manifest;
  return {
    kind: 'fields',
    title: `revision ${r.id}`,
    fields: [
      ['pool', `${r.tenantId}/${r.poolId}`],
      ['source', sourceText(r)],
      ['kernel', `sha256 ${kernel.sha256} (${mib(kernel.bytes)})`],
      ...(r.manifest.initrd
        ? [
            [
              'initrd',
              `sha256 ${r.manifest.initrd.sha256} (${mib(r.manifest.initrd.bytes)})`,
            ] as const,
          ]
        : []),
      ['rootfs', `sha256 ${rootfs.sha256} (${mib(rootfs.bytes)}, ${r.manifest.rootfsFormat})`],
      ['artifacts', `${artifactsOf(r.manifest).length}, ${mib(r.bytes)}`],
      ['workload', r.manifest.workload ? JSON.stringify(r.manifest.workload) : '-'],
      ['built by', r.builtBy],
      ['build time', `${(r.buildMs / 1000).toFixed(1)} s`],
      ['created', r.createdAt],
      [
        'current',
        r.current ? 'yes' : `no: mvm pool update ${r.tenantId}/${r.poolId} --revision ${r.id}`,
      ],
    ],
  };
}
