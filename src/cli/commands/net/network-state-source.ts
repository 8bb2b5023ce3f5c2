/**
 * Where `mvm net verify` gets the node's desired network from. Today: a JSON file holding a
 * HostNetworkState. The agent will provide the same value from its local state later; the
 * command only depends on `loadDesiredNetwork`, so that swap touches this file alone.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../../core/errors.ts';
import type { HostNetworkState } from '../../../ports/network.ts';

const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'an IPv4 address like 10.240.5.3');
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'a CIDR like 10.240.5.0/24');
const mac = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC like 02:6d:76:00:05:03');
const netId = z.number().int().min(0).max(4095);

const hostNetworkState = z.object({
  tenants: z.array(
    z.object({
      netId,
      subnet: cidr,
      gateway: ipv4,
      egress: z.boolean(),
      vxlanPeers: z.array(ipv4).default([]),
    }),
  ),
  instances: z.array(
    z.object({ tenantNetId: netId, tap: z.string().min(1).max(15), ip: ipv4, mac }),
  ),
  underlayIp: ipv4.optional(),
  services: z
    .object({
      metadata: z.object({ ip: ipv4, port: z.number().int().min(1).max(65535) }).optional(),
      dns: z.boolean().optional(),
    })
    .optional(),
});

export type NetworkStateSource = { kind: 'file'; path: string };

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
    const why = error instanceof Error ? error.message : String(error);
    throw new ValidationError(`network state file ${path} is not JSON: ${why}`, [why]);
  }
}

/** The desired host network, validated; every problem of a bad file is reported at once. */
export async function loadDesiredNetwork(source: NetworkStateSource): Promise<HostNetworkState> {
  const parsed = hostNetworkState.safeParse(await readStateFile(source.path));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ValidationError(`network state file ${source.path} is invalid`, problems);
  }
  return parsed.data;
}
