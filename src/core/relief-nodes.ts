/** A node's size, or an instance's. */
interface Size {
  vcpus: number;
  memMib: number;
}

/**
 * The nodes where relief could make room for one of `wanting` (the instances placement left
 * unplaced that want vCPUs and RAM): those whose whole size holds it. Putting every warm
 * instance of a smaller node to sleep would still leave it too small, so relief reads no
 * candidate there. Sorted by id. Pure.
 */
export function reliefNodes(
  nodes: ReadonlyArray<Size & { id: string }>,
  wanting: readonly Size[],
): string[] {
  return nodes
    .filter((n) => wanting.some((w) => w.vcpus <= n.vcpus && w.memMib <= n.memMib))
    .map((n) => n.id)
    .sort();
}
