/**
 * How strong a secret the operator chose must be. Stored hashes are unsalted SHA-256, which is
 * safe only for secrets no one can guess or enumerate: 256 random bits as mvm issues them, or
 * a value of the same kind. A configured admin token is held to that rule.
 */
export const MIN_SECRET_LENGTH = 32;
export const MIN_SECRET_BITS = 128;
export const SECRET_SUGGESTION = "generate one with 'openssl rand -hex 32'";

/**
 * An upper bound on the entropy of `secret`: its length times the Shannon entropy of its own
 * character frequencies. Repeats and small alphabets score low; it cannot see that a phrase
 * is made of words, so it only refuses what is surely weak.
 */
export function estimatedBits(secret: string): number {
  const counts = new Map<string, number>();
  const chars = [...secret];
  for (const char of chars) counts.set(char, (counts.get(char) ?? 0) + 1);
  let perChar = 0;
  for (const count of counts.values()) {
    const p = count / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/** Why `secret` is too weak to be an API token, or undefined when it will do. Never echoes it. */
export function weakSecretProblem(secret: string): string | undefined {
  if (!/^[\x21-\x7e]*$/.test(secret)) {
    return `must be printable ASCII without spaces (it is sent in an HTTP header); ${SECRET_SUGGESTION}`;
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    return `is ${secret.length} characters long, fewer than ${MIN_SECRET_LENGTH}; ${SECRET_SUGGESTION}`;
  }
  const bits = Math.floor(estimatedBits(secret));
  if (bits < MIN_SECRET_BITS) {
    return `is too predictable (about ${bits} bits by its character frequencies, at least ${MIN_SECRET_BITS} needed); ${SECRET_SUGGESTION}`;
  }
  return undefined;
}
