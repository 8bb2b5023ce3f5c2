import type { PoolConfigView, SecretView } from '../../contract/secrets.ts';
import type { Block } from '../render.ts';

/** How secrets look to a human: names and versions; the API never sends values here. */
export function secretTable(secrets: readonly SecretView[], empty: string): Block {
  return {
    kind: 'table',
    columns: ['NAME', 'SCOPE', 'VERSION', 'CREATED', 'UPDATED'],
    rows: secrets.map((s) => [
      s.name,
      s.pool === null ? 'tenant' : `pool ${s.pool}`,
      String(s.version),
      s.createdAt,
      s.updatedAt,
    ]),
    empty,
  };
}

export const appliedWhen =
  "running instances get the change at their next start or wake (e.g. 'mvm instance sleep' then 'wake')";

export function configTable(config: PoolConfigView): Block[] {
  const names = Object.keys(config.files).sort();
  return [
    {
      kind: 'fields',
      fields: [
        ['pool', `${config.tenantId}/${config.poolId}`],
        ['version', String(config.version)],
        ['updated', config.updatedAt ?? '-'],
      ],
    },
    {
      kind: 'table',
      columns: ['FILE', 'BYTES'],
      rows: names.map((name) => [
        `/etc/mvm-config/${name}`,
        String(Buffer.byteLength(config.files[name] ?? '', 'utf8')),
      ]),
      empty: `no config files; add some with 'mvm pool config set ${config.tenantId}/${config.poolId} <file>'`,
    },
  ];
}
