import { desiredTenantSchema, type DesiredTenant } from '../../contract/desired.ts';
import { objectEnd } from './payload-texts.ts';

/**
 * The tenants of the last node document an agent validated, as received (parsed JSON) and as
 * validated. A new document's tenant equal to a kept one, member by member, is that one's
 * validated value again: validation is a function of the tenant's JSON alone, so skipping it
 * refuses nothing the schema would accept and accepts nothing it would refuse. A change on a
 * node (one instance toggled) changes one tenant of its hundreds, and the schema's check of the
 * rest (zod, ~2,000 objects for a 1,000-instance document) was most of the agent's time on
 * each document (docs/scale.md, "What the agent does with a document").
 *
 * Documents are read-only: an unchanged tenant of the new document is the previous one's
 * object.
 */
export class ValidatedTenants {
  private kept = new Map<string, Kept>();
  /** The kept tenants in their document's order: a new document lists most in the same. */
  private order: readonly Kept[] = [];

  /**
   * How many tenants the last document reused, how many it validated, and whether it was read
   * by its tenants' texts (fromTexts) rather than parsed whole (for tests).
   */
  last = { reused: 0, validated: 0, byTexts: false };

  /**
   * The kept document's tenants' texts, in its order, when it was read by its texts
   * (`fromTexts`): the cut a delta's indices refer to (agent/desired/delta-payload.ts).
   */
  keptTexts(): string[] | undefined {
    if (!this.last.byTexts) return undefined;
    return this.order.map((kept) => kept.text as string);
  }

  /** The validated tenant kept for exactly this JSON, if any. */
  reuse(raw: unknown): DesiredTenant | undefined {
    return this.keptFor(raw)?.tenant;
  }

  private keptFor(raw: unknown): Kept | undefined {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
    const id = (raw as { id?: unknown }).id;
    if (typeof id !== 'string') return undefined;
    const kept = this.kept.get(id);
    return kept !== undefined && sameJson(kept.raw, raw) ? kept : undefined;
  }

  /** Keeps a validated document's tenants (in place of the previous document's). */
  keep(
    raws: readonly unknown[],
    tenants: readonly DesiredTenant[],
    reused: number,
    texts?: readonly string[],
  ): void {
    const kept = new Map<string, Kept>();
    const order: Kept[] = [];
    tenants.forEach((tenant, i) => {
      const one = { raw: raws[i], tenant, text: texts?.[i], index: i };
      kept.set(tenant.id, one);
      order.push(one);
    });
    this.kept = kept;
    this.order = order;
    this.last = { reused, validated: tenants.length - reused, byTexts: texts !== undefined };
  }

  /**
   * The tenants of a payload laid out as the coordinator writes it (payload-texts.ts), from
   * their texts, without parsing the whole payload: the tenants' array starts at `at`, and
   * each tenant's text that is a kept tenant's text, character for character, is that
   * tenant again (equal text, equal JSON, the same validation); any other is parsed alone and
   * reused when its JSON equals a kept one's, else validated by `desiredTenantSchema`. The
   * payload must end with the array and the document's closing brace. Undefined when it is
   * laid out otherwise or a tenant does not parse or validate: the caller then parses and
   * validates the payload whole (and says why it refuses it). Accepted, the texts are a
   * partition of the array, each a JSON value: the whole payload parses to these tenants.
   */
  fromTexts(
    payload: string,
    at: number,
  ): { raws: unknown[]; tenants: DesiredTenant[]; texts: string[]; reused: number } | undefined {
    const raws: unknown[] = [];
    const tenants: DesiredTenant[] = [];
    const texts: string[] = [];
    let reused = 0;
    let p = at;
    let next = 0;
    if (payload.charCodeAt(p) !== CLOSE_ARRAY) {
      for (;;) {
        const expected = this.order[next];
        let end = -1;
        let one: Kept | undefined;
        if (expected?.text !== undefined && payload.startsWith(expected.text, p)) {
          one = expected;
          end = p + expected.text.length;
        } else {
          end = objectEnd(payload, p);
          if (end < 0) return undefined;
          const text = payload.slice(p, end);
          let raw: unknown;
          try {
            raw = JSON.parse(text);
          } catch {
            return undefined;
          }
          one = this.keptFor(raw);
          if (!one) {
            const checked = desiredTenantSchema.safeParse(raw);
            if (!checked.success) return undefined;
            raws.push(raw);
            tenants.push(checked.data);
            texts.push(text);
          }
        }
        if (one) {
          reused += 1;
          raws.push(one.raw);
          tenants.push(one.tenant);
          texts.push(one === expected ? (expected.text as string) : payload.slice(p, end));
          next = one.index + 1;
        }
        const delimiter = payload.charCodeAt(end);
        if (delimiter === COMMA) p = end + 1;
        else if (delimiter === CLOSE_ARRAY) {
          p = end;
          break;
        } else return undefined;
      }
    }
    if (p !== payload.length - 2 || payload.charCodeAt(p + 1) !== CLOSE) return undefined;
    return { raws, tenants, texts, reused };
  }
}

interface Kept {
  /** As received (parsed JSON). */
  raw: unknown;
  tenant: DesiredTenant;
  /** Its text in the payload, when the document was read by its tenants' texts. */
  text: string | undefined;
  /** Its place in its document. */
  index: number;
}

const COMMA = 0x2c;
const CLOSE_ARRAY = 0x5d;
const CLOSE = 0x7d;

/**
 * Equality of two values parsed from JSON: the same members (in any order, as an object's
 * members mean the same in any order), the same items in the same order, the same scalars
 * (-0 and 0 differ: a value is reused only when it is exactly the one validated). For JSON
 * values node:util's `isDeepStrictEqual` answers the same, at about four times the time (500
 * tenants: 1.5 against 0.35 ms), on every document the agent takes.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return typeof a !== 'number' || Object.is(a, b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i += 1) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const key of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, key) || !sameJson(ao[key], bo[key])) return false;
  }
  return true;
}
