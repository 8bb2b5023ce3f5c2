/**
 * A signed payload's text cut where the coordinator writes it (core/desired-doc.ts: canonical
 * JSON, `stampedPayload`): the head, `{"generation":…,"issuedAt":…,"nodeId":…,"schema":…,
 * "tenants":[`, then each tenant's text. Only the layout is read here, nothing is believed:
 * a payload laid out otherwise (whitespace, other members, escapes in the head's strings) is
 * not cut, and the caller parses it whole.
 */

/** The head up to the tenants' array, its strings without escapes. */
const HEAD =
  /^\{"generation":(?:0|[1-9][0-9]*),"issuedAt":"[^"\\]*","nodeId":"[^"\\]*","schema":"[^"\\]*","tenants":\[/;

/**
 * The head as a document of no tenants (`{…,"tenants":[]}`, to parse and check), and where
 * the first tenant's text starts; undefined when the payload is not laid out as the
 * coordinator writes it.
 */
export function payloadHead(payload: string): { text: string; tenantsAt: number } | undefined {
  const head = HEAD.exec(payload);
  if (!head) return undefined;
  const tenantsAt = head[0].length;
  return { text: `${head[0]}]}`, tenantsAt };
}

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Where the object whose text starts at `at` ends (the index after its closing brace), by
 * brackets outside strings; -1 when `at` is no `{` or nothing closes it. It does not check
 * the text in between: the caller parses it, and a text that does not parse is not a value.
 */
export function objectEnd(text: string, at: number): number {
  if (text.charCodeAt(at) !== OPEN) return -1;
  let depth = 0;
  for (let i = at; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i += 1; i < text.length; i += 1) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i += 1;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN || c === OPEN_ARRAY) depth += 1;
    else if (c === CLOSE || c === CLOSE_ARRAY) {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
