import type { DesiredTenant } from '../../contract/desired.ts';
import { canonicalJson } from '../../core/desired-doc.ts';
import { sha256Hex } from '../../core/desired-manifest.ts';
import { sameItems } from './kept-maps.ts';

const DEFAULT_MAX_NODES = 1024;

/**
 * Gives a tenant's entry: the one built before from equal inputs (`inputs`, compared item by
 * item with ===), or `build(tenantId)`'s (one function for every tenant: no closure each).
 */
export type TenantEntryMemo = (
  tenantId: string,
  inputs: readonly unknown[],
  build: (tenantId: string) => DesiredTenant | undefined,
) => DesiredTenant | undefined;

interface Kept {
  inputs: readonly unknown[];
  entry: DesiredTenant | undefined;
  /** The entry's canonical JSON, once serialized: a kept entry is not serialized again. */
  text?: string;
  /** The sha256 of that text, once computed (desired/document-digest.ts). */
  digest?: string;
}

/**
 * Per node, each tenant's entry of its previous document and the inputs it was built from
 * (desired/node-document.ts: the tenant's kept rows and inputs as objects, which the caches
 * replace rather than change, and its peers and moves as strings). A
 * recomputation builds again only the entries whose inputs differ: a toggle on a node of 500
 * tenants builds one. Each computation keeps only the tenants of its own document; the least
 * recently computed nodes are dropped past `maxNodes`. Each entry's canonical JSON is kept
 * with it: the document's content is the kept texts joined (core/desired-doc.ts,
 * `documentContent`), so a toggle serializes one tenant of 500, not the 237 KiB document;
 * and its digest, of which the document's digest is made (desired/document-digest.ts), so a
 * toggle hashes one tenant's text, not the whole document's.
 */
export class TenantEntries {
  private readonly nodes = new Map<string, Map<string, Kept>>();
  /** Entries reused, built and serialized by the last computation (tests). */
  last = { reused: 0, built: 0, serialized: 0 };

  constructor(private readonly maxNodes = DEFAULT_MAX_NODES) {}

  /** Drops the node's kept entries (a node lost or gone); whether any were kept. */
  forget(nodeId: string): boolean {
    return this.nodes.delete(nodeId);
  }

  /**
   * The memo for one computation of `nodeId`'s document; call `done` once it is built. `text`
   * gives an entry's canonical JSON, serialized once per entry (the memo's entries only).
   */
  forNode(nodeId: string): {
    memo: TenantEntryMemo;
    done: () => void;
    text: (entry: DesiredTenant) => string;
    digest: (entry: DesiredTenant) => string;
  } {
    const previous = this.nodes.get(nodeId);
    const next = new Map<string, Kept>();
    const counts = { reused: 0, built: 0, serialized: 0 };
    const memo: TenantEntryMemo = (tenantId, inputs, build) => {
      const kept = previous?.get(tenantId);
      if (kept && sameItems(kept.inputs, inputs)) {
        counts.reused += 1;
        next.set(tenantId, kept);
        return kept.entry;
      }
      counts.built += 1;
      const entry = build(tenantId);
      next.set(tenantId, { inputs, entry });
      return entry;
    };
    const done = () => {
      this.nodes.delete(nodeId);
      this.nodes.set(nodeId, next);
      for (const oldest of this.nodes.keys()) {
        if (this.nodes.size <= this.maxNodes) break;
        this.nodes.delete(oldest);
      }
      this.last = counts;
    };
    const serialize = (entry: DesiredTenant): string => {
      counts.serialized += 1;
      return canonicalJson(entry);
    };
    const text = (entry: DesiredTenant): string => {
      const kept = next.get(entry.id);
      if (kept?.entry !== entry) return serialize(entry);
      return (kept.text ??= serialize(entry));
    };
    const digest = (entry: DesiredTenant): string => {
      const kept = next.get(entry.id);
      if (kept?.entry !== entry) return sha256Hex(text(entry));
      return (kept.digest ??= sha256Hex(text(entry)));
    };
    return { memo, done, text, digest };
  }
}
