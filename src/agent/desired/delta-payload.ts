import type { DesiredDelta, SignedEnvelope } from '../../contract/desired.ts';
import { objectEnd, payloadHead } from './payload-texts.ts';

/**
 * A delta answer (contract/desired.ts, desiredDeltaSchema) made whole again against the
 * document the agent holds: the payload `head`, then each tenant's text (a number: the text at
 * that index in the held payload) joined by commas, then `]}`. Nothing in it is believed here:
 * the caller verifies the rebuilt envelope exactly as a full one (its signature is over the
 * rebuilt payload), so a delta whose texts or indices are not the coordinator's fails there.
 */

/** The payload's tenants' texts, for a document the agent holds and may get deltas against. */
export interface HeldPayload {
  generation: number;
  texts: readonly string[];
}

/** Why a delta could not be made whole: the watch then asks for the document whole. */
export class DeltaUnusableError extends Error {
  constructor(message: string) {
    super(`desired-state delta not applied: ${message}; asking for the whole document`);
  }
}

/** The envelope a delta stands for, and its tenants' texts (the next delta's base). */
export function rebuildEnvelope(
  delta: DesiredDelta,
  held: HeldPayload | undefined,
): { envelope: SignedEnvelope; texts: string[] } {
  const { base, head, tenants } = delta.delta;
  if (held?.generation !== base) {
    throw new DeltaUnusableError(
      `it is against generation ${base}, this agent holds ${held?.generation ?? 'none'}`,
    );
  }
  const texts: string[] = [];
  for (const tenant of tenants) {
    if (typeof tenant === 'string') {
      texts.push(tenant);
      continue;
    }
    const text = held.texts[tenant];
    if (text === undefined) {
      throw new DeltaUnusableError(
        `tenant index ${tenant} is outside the ${held.texts.length} held`,
      );
    }
    texts.push(text);
  }
  const payload = `${head}${texts.join(',')}]}`;
  return { envelope: { payload, signature: delta.signature, keyId: delta.keyId }, texts };
}

/**
 * The tenants' texts of a payload laid out as the coordinator writes it (payload-texts.ts),
 * cut by brackets only (its signature was checked, and it parsed); undefined for any other
 * layout, whose document the agent then takes whole each time.
 */
export function tenantTexts(payload: string): string[] | undefined {
  const at = payloadHead(payload);
  if (!at) return undefined;
  const texts: string[] = [];
  let p = at.tenantsAt;
  if (payload.charCodeAt(p) !== CLOSE_ARRAY) {
    for (;;) {
      const end = objectEnd(payload, p);
      if (end < 0) return undefined;
      texts.push(payload.slice(p, end));
      const delimiter = payload.charCodeAt(end);
      p = end + 1;
      if (delimiter === CLOSE_ARRAY) break;
      if (delimiter !== COMMA) return undefined;
    }
  } else p += 1;
  return p === payload.length - 1 && payload.charCodeAt(p) === CLOSE ? texts : undefined;
}

const COMMA = 0x2c;
const CLOSE_ARRAY = 0x5d;
const CLOSE = 0x7d;
