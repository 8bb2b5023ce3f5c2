import { committedMemMib, type HeldReport } from './held-memory.ts';
import type { DesiredStatus } from './model.ts';
import { holdsResources } from './placement.ts';

/**
 * Raising a placed instance: a sleeping or stopped instance (which holds no vCPUs or RAM, only
 * disk on its node) told to run or be warm again needs its vCPUs and RAM on the node that
 * holds its data and snapshot. A raise is admitted only when that node has room for it next to
 * everything it already holds; otherwise the instance stays where it is (asleep or stopped),
 * holding the place it was raised to, and the scheduler raises it once the node has room
 * (core/pressure-sleep.ts, release). A raise is never an overcommit.
 *
 * Room is counted as placement counts it: vCPUs by size; memory as the node's committed
 * memory (core/held-memory.ts: sizes less its last report's credit) of what it held before
 * these raises, plus each admitted raise at its full size (it is in no report yet). Raises
 * are admitted critical first, then in the order given (the caller's priority); one that does
 * not fit does not stop a smaller one behind it. Pure.
 */
export interface RoomNode {
  id: string;
  vcpus: number;
  memMib: number;
  /** vCPUs and MiB, by size, that the node's running and warm instances hold, raises included. */
  heldVcpus: number;
  heldMemMib: number;
  /** The node's last report of what its running and warm instances held; none: by size. */
  memReport?: HeldReport | null | undefined;
}

export interface RaiseRequest {
  key: string;
  nodeId: string;
  vcpus: number;
  memMib: number;
  /** What it is raised to (running or warm). */
  to: DesiredStatus;
  critical?: boolean;
}

export interface RaiseVerdict {
  admitted: RaiseRequest[];
  /** Raises the node has no room for, each with the reason. */
  held: Array<{ request: RaiseRequest; reason: string }>;
}

/** Whether going from `from` to `to` makes an instance take vCPUs and RAM it did not hold. */
export function isRaise(from: DesiredStatus, to: DesiredStatus): boolean {
  return !holdsResources(from) && holdsResources(to);
}

interface Free {
  vcpus: number;
  memMib: number;
}

/** What the node has free once the raises are taken off what it holds. */
function freeBefore(node: RoomNode, raises: readonly RaiseRequest[]): Free {
  const mine = raises.filter((r) => r.nodeId === node.id);
  const vcpus = node.heldVcpus - mine.reduce((sum, r) => sum + r.vcpus, 0);
  const sizedMib = node.heldMemMib - mine.reduce((sum, r) => sum + r.memMib, 0);
  return {
    vcpus: node.vcpus - Math.max(0, vcpus),
    memMib: node.memMib - committedMemMib(Math.max(0, sizedMib), node.memReport),
  };
}

function reasonOf(request: RaiseRequest, free: Free): string {
  return (
    `node '${request.nodeId}' has no room to make it ${request.to}: it needs ` +
    `${request.vcpus} vCPU and ${request.memMib} MiB, the node has ` +
    `${Math.max(0, free.vcpus)} vCPU and ${Math.max(0, free.memMib)} MiB free`
  );
}

/**
 * Which raises their nodes have room for. A raise on a node `nodes` does not name (gone from
 * the store) is admitted: nothing runs there to overcommit, and node loss re-places it.
 */
export function admitRaises(
  nodes: readonly RoomNode[],
  raises: readonly RaiseRequest[],
): RaiseVerdict {
  const free = new Map(nodes.map((n) => [n.id, freeBefore(n, raises)]));
  const verdict: RaiseVerdict = { admitted: [], held: [] };
  const ordered = [...raises].sort(
    (a, b) => Number(b.critical ?? false) - Number(a.critical ?? false),
  );
  for (const request of ordered) {
    const room = free.get(request.nodeId);
    if (room === undefined) {
      verdict.admitted.push(request);
      continue;
    }
    if (request.vcpus > room.vcpus || request.memMib > room.memMib) {
      verdict.held.push({ request, reason: reasonOf(request, room) });
      continue;
    }
    room.vcpus -= request.vcpus;
    room.memMib -= request.memMib;
    verdict.admitted.push(request);
  }
  return verdict;
}
