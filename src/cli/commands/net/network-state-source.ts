/**
 * Where `mvm net verify` gets the node's desired network from: a JSON file holding a
 * HostNetworkState (`--state`), or by default the local agent, which derives it from its VM
 * records (GET /v1/local/network). Both are validated by the same contract schema.
 */
import { readFile } from 'node:fs/promises';
import { errorMessage, NotFoundError, ValidationError } from '../../../core/errors.ts';
import { hostNetworkStateSchema } from '../../../contract/agent-api.ts';
import type { HostNetworkState } from '../../../ports/network.ts';
import type { AgentClient } from '../../agent-client.ts';

export type NetworkStateSource =
  { kind: 'file'; path: string } | { kind: 'agent'; client: AgentClient };

export interface DesiredNetwork {
  state: HostNetworkState;
  /** The namespace the state lives in, when the agent runs its networking in one. */
  netns?: string;
}

async function readStateFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new NotFoundError('network state file', path, 'pass an existing file with --state');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const why = errorMessage(error);
    throw new ValidationError(`network state file ${path} is not JSON: ${why}`, [why]);
  }
}

async function fromFile(path: string): Promise<DesiredNetwork> {
  const parsed = hostNetworkStateSchema.safeParse(await readStateFile(path));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ValidationError(`network state file ${path} is invalid`, problems);
  }
  return { state: parsed.data };
}

async function fromAgent(client: AgentClient): Promise<DesiredNetwork> {
  const network = await client.network();
  if (!network.enabled) {
    throw new ValidationError(
      `the agent at ${client.socket} runs without tenant networking (MVM_NETWORK=off or not root); there is nothing to verify, or pass --state FILE`,
    );
  }
  return { state: network.state, ...(network.netns ? { netns: network.netns } : {}) };
}

/** The desired host network, validated; every problem of a bad file is reported at once. */
export function loadDesiredNetwork(source: NetworkStateSource): Promise<DesiredNetwork> {
  return source.kind === 'file' ? fromFile(source.path) : fromAgent(source.client);
}
