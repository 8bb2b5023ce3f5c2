/** One sentence for the result of a destroy: what went, and what went with it. */
export function destroyedText(
  subject: string,
  destroyed: { pools: number; instances: number },
  withPools = true,
): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const pools = withPools ? `${plural(destroyed.pools, 'pool')} and ` : '';
  return `destroyed ${subject} with ${pools}${plural(destroyed.instances, 'instance')}`;
}
