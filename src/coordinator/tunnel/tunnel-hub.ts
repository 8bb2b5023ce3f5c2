import type { WebSocket } from 'ws';
import { UnavailableError } from '../../core/errors.ts';
import { waitUntil } from '../../drivers/process/wait-until.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import { NodeTunnel } from './node-tunnel.ts';

/** WebSocket close code for a tunnel a newer one of the same node replaced. */
const REPLACED = 4000;

/**
 * The tunnels node agents keep open to this coordinator process, one per node (the newest
 * wins: an agent that reconnects replaces its half-dead predecessor). Tunnels live in this
 * process only: with several coordinator replicas, a session reaches a node only through the
 * replica its agent is connected to (docs/exec.md).
 */
export class TunnelHub {
  private readonly tunnels = new Map<string, NodeTunnel>();

  constructor(private readonly deps: { clock: Clock; logger: Logger }) {}

  attach(nodeId: string, socket: WebSocket): NodeTunnel {
    const tunnel = new NodeTunnel(nodeId, socket, this.deps.logger);
    this.tunnels.get(nodeId)?.close(REPLACED, 'replaced by a newer tunnel of the same node');
    this.tunnels.set(nodeId, tunnel);
    socket.once('close', () => {
      if (this.tunnels.get(nodeId) === tunnel) this.tunnels.delete(nodeId);
      this.deps.logger.info({ nodeId }, 'node tunnel closed');
    });
    this.deps.logger.info({ nodeId }, 'node tunnel open');
    return tunnel;
  }

  get(nodeId: string): NodeTunnel | undefined {
    const tunnel = this.tunnels.get(nodeId);
    return tunnel && !tunnel.closed ? tunnel : undefined;
  }

  /**
   * The node's tunnel, waiting up to `timeoutMs` for an agent that is reconnecting (after a
   * coordinator restart, a network blip).
   */
  async require(nodeId: string, timeoutMs: number): Promise<NodeTunnel> {
    try {
      return await waitUntil(() => this.get(nodeId), {
        clock: this.deps.clock,
        timeoutMs,
        intervalMs: 100,
        what: `the tunnel of node '${nodeId}'`,
      });
    } catch {
      throw new UnavailableError(
        `node '${nodeId}' has no tunnel to this coordinator (waited ${timeoutMs / 1000} s): its agent is down or reconnecting, or, with several coordinator replicas, connected to another one; check 'mvm node info ${nodeId}' and the agent's log`,
        { nodeId },
      );
    }
  }

  /** Nodes with an open tunnel here. */
  nodes(): string[] {
    return [...this.tunnels.keys()].filter((nodeId) => this.get(nodeId) !== undefined).sort();
  }

  close(): void {
    for (const tunnel of this.tunnels.values()) tunnel.close(1001, 'coordinator stopping');
    this.tunnels.clear();
  }
}
