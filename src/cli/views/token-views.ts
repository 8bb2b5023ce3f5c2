import type { IssuedTokenView, TokenView } from '../../contract/tokens.ts';
import type { Block } from '../render.ts';
import { ageOf } from './node-views.ts';

const scopeOf = (token: TokenView): string =>
  token.tenantId === null ? 'admin' : `tenant ${token.tenantId}`;

/** How tokens look to a human: ids and names, never a secret. `now` dates their last use. */
export function tokenTable(tokens: readonly TokenView[], now: Date, empty: string): Block {
  return {
    kind: 'table',
    columns: ['ID', 'NAME', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
    rows: tokens.map((token) => [
      token.id,
      token.name,
      scopeOf(token),
      token.state,
      token.createdAt,
      token.expiresAt ?? 'never',
      ageOf(token.lastUsedAt, now),
      token.revokedAt ?? '-',
    ]),
    empty,
  };
}

export function tokenFields(token: TokenView): Block {
  return {
    kind: 'fields',
    fields: [
      ['token id', token.id],
      ['name', token.name],
      ['scope', scopeOf(token)],
      ['state', token.state],
      ['expires', token.expiresAt ?? 'never'],
      ['revoked', token.revokedAt ?? '-'],
    ],
  };
}

/** A newly issued token: its secret is printed this once. */
export function issuedTokenBlocks(issued: IssuedTokenView): Block[] {
  return [
    {
      kind: 'fields',
      fields: [
        ['token id', issued.id],
        ['name', issued.name],
        ['scope', scopeOf(issued)],
        ['expires', issued.expiresAt ?? 'never'],
        ['token', issued.token],
      ],
    },
    {
      kind: 'text',
      text: 'store the token now: it is not shown again (use it with --token or MVM_TOKEN)',
    },
  ];
}
