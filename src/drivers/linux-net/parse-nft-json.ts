/**
 * Normalises `nft -j list ruleset` into rule signatures written in the same words as the
 * ruleset model (src/core/nft-ruleset.ts), so verify can compare them one to one.
 */
import type { ObservedNft, ObservedNftChain, ObservedNftRule } from '../../ports/network.ts';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : '';

function leftText(left: unknown): string {
  if (!isObject(left)) return '?';
  const { meta, payload, ct } = left;
  if (isObject(meta)) return text(meta['key']);
  if (isObject(payload)) return `${text(payload['protocol'])} ${text(payload['field'])}`;
  if (isObject(ct)) return `ct ${text(ct['key'])}`;
  return JSON.stringify(left);
}

function rightText(right: unknown): string {
  if (Array.isArray(right)) return right.map(rightText).join(',');
  if (!isObject(right)) return text(right);
  const { prefix, set } = right;
  if (isObject(prefix)) return `${text(prefix['addr'])}/${text(prefix['len'])}`;
  if (Array.isArray(set)) return set.map(rightText).join(',');
  return JSON.stringify(right);
}

/** One expression in the same words the model uses; counters say nothing about policy. */
function exprText(expr: unknown): string | undefined {
  if (!isObject(expr)) return '?';
  const { match, jump } = expr;
  if (isObject(match)) {
    const negate = match['op'] === '!=' ? '!= ' : '';
    return `${leftText(match['left'])} ${negate}${rightText(match['right'])}`;
  }
  if (isObject(jump)) return `jump ${text(jump['target'])}`;
  if ('counter' in expr) return undefined;
  return Object.keys(expr).join(' ');
}

function liveRule(r: Json): ObservedNftRule {
  const parts = (Array.isArray(r['expr']) ? r['expr'] : []).map(exprText);
  const tag = typeof r['comment'] === 'string' ? r['comment'] : undefined;
  return {
    family: text(r['family']),
    table: text(r['table']),
    chain: text(r['chain']),
    handle: typeof r['handle'] === 'number' ? r['handle'] : undefined,
    tag,
    signature: `${parts.filter((p) => p !== undefined).join(' ; ')} # ${tag ?? ''}`,
  };
}

function liveChain(c: Json): ObservedNftChain {
  const name = text(c['name']);
  const base = typeof c['hook'] === 'string';
  const signature = base
    ? `${name} type ${text(c['type'])} hook ${text(c['hook'])} priority ${text(c['prio'])} policy ${text(c['policy'])}`
    : name;
  return { family: text(c['family']), table: text(c['table']), name, signature };
}

const isMvmTable = (name: unknown): boolean => typeof name === 'string' && name.startsWith('mvm_');

/** The mvm_* tables of a ruleset (every other table is someone else's business). */
export function parseNftJson(nftables: readonly unknown[]): ObservedNft {
  const tables: Array<{ family: string; name: string }> = [];
  const chains: ObservedNftChain[] = [];
  const rules: ObservedNftRule[] = [];
  for (const item of nftables) {
    if (!isObject(item)) continue;
    const { table, chain, rule: r } = item;
    if (isObject(table) && isMvmTable(table['name'])) {
      tables.push({ family: text(table['family']), name: text(table['name']) });
    }
    if (isObject(chain) && isMvmTable(chain['table'])) chains.push(liveChain(chain));
    if (isObject(r) && isMvmTable(r['table'])) rules.push(liveRule(r));
  }
  return { tables, chains, rules };
}
