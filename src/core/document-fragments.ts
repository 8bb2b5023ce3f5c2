import type { DesiredInstance, NodeDesired } from '../contract/desired.ts';
import { canonicalJson, type DocumentInstance } from './desired-doc.ts';

interface Memo {
  requestId: string | undefined;
  entry: DesiredInstance;
}

/**
 * A node document's instance entries and their canonical JSON, kept by object between
 * recomputations: a document is rebuilt from its kept rows (coordinator/desired/node-rows.ts),
 * where an unchanged instance is the same row object, so only the changed entries are built
 * and serialized again, and `content` assembles the text of `documentContent` from the kept
 * fragments. Both hold by identity (weakly): nothing here is ever mutated once made.
 */
export class DocumentFragments {
  private readonly entries = new WeakMap<DocumentInstance, Memo>();
  private readonly texts = new WeakMap<DesiredInstance, string>();

  /** The row's entry: the same object while the row object and its request id are the same. */
  entry(
    row: DocumentInstance,
    requestId: string | undefined,
    make: () => DesiredInstance,
  ): DesiredInstance {
    const memo = this.entries.get(row);
    if (memo && memo.requestId === requestId) return memo.entry;
    const entry = make();
    this.entries.set(row, { requestId, entry });
    return entry;
  }

  /** Exactly `documentContent(doc)`, with each instance entry's text serialized once. */
  content(doc: NodeDesired): string {
    const tenants = doc.tenants
      .map((tenant) =>
        spliced(
          tenant,
          'pools',
          tenant.pools
            .map((pool) =>
              spliced(pool, 'instances', pool.instances.map((i) => this.text(i)).join(',')),
            )
            .join(','),
        ),
      )
      .join(',');
    return `{"nodeId":${canonicalJson(doc.nodeId)},"schema":${canonicalJson(doc.schema)},"tenants":[${tenants}]}`;
  }

  private text(entry: DesiredInstance): string {
    let text = this.texts.get(entry);
    if (text === undefined) {
      text = canonicalJson(entry);
      this.texts.set(entry, text);
    }
    return text;
  }
}

/**
 * `canonicalJson(value)` whose member `key` (an array) is given as its items' joined text:
 * the members sorting before it, then it, then those after, as canonicalJson orders keys.
 */
function spliced(value: object, key: string, items: string): string {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k < key) before[k] = v;
    else if (k > key) after[k] = v;
  }
  const head = canonicalJson(before).slice(1, -1);
  const tail = canonicalJson(after).slice(1, -1);
  return `{${head}${head === '' ? '' : ','}${canonicalJson(key)}:[${items}]${tail === '' ? '' : ','}${tail}}`;
}
