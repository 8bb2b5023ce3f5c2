import type { FleetNode } from './model.ts';

export type CordonWish = 'cordon' | 'uncordon';

/** What a cordon or uncordon request does to a node, decided from values. */
export type CordonDecision =
  | { kind: 'change'; to: FleetNode['status'] }
  | { kind: 'unchanged' }
  | { kind: 'refuse'; reason: string };

export interface CordonFacts {
  status: FleetNode['status'];
  /** Certificates the node was ever given, and how many of them are not revoked. */
  certificates: number;
  liveCertificates: number;
}

/**
 * A cordoned node keeps what it runs and takes nothing new (placement reads only ready nodes).
 * Both requests are idempotent. A lost node is neither cordoned nor uncordoned: its state is
 * the loss policy's until it heartbeats again. A node whose every certificate was revoked
 * stays cordoned: it must join again, which makes it ready.
 */
export function decideCordon(wish: CordonWish, facts: CordonFacts): CordonDecision {
  if (facts.status === 'lost') {
    return {
      kind: 'refuse',
      reason: `the node is lost; it can be ${wish}ed once it heartbeats again`,
    };
  }
  const target = wish === 'cordon' ? 'cordoned' : 'ready';
  if (facts.status === target) return { kind: 'unchanged' };
  if (wish === 'uncordon' && facts.certificates > 0 && facts.liveCertificates === 0) {
    return {
      kind: 'refuse',
      reason: "every certificate of the node is revoked; join it again with 'mvm add host'",
    };
  }
  return { kind: 'change', to: target };
}
