import type { LocalSpecInput } from '../../../src/contract/agent-api.ts';
import { macFor } from '../../../src/core/addresses.ts';

/** Tenant network `netId` as the coordinator would give it: 10.240.<netId>.0/24, gateway .1. */
export const tenantNet = (netId: number) => ({
  netId,
  subnet: `10.240.${netId}.0/24`,
  gateway: `10.240.${netId}.1`,
});

/** A small worker (1 vCPU, 256 MiB) of tenant network `netId` at `10.240.<netId>.<octet>`. */
export const tenantWorker = (
  netId: number,
  octet: number,
  extra: Partial<LocalSpecInput> = {},
): LocalSpecInput => ({
  role: 'worker',
  vcpus: 1,
  memMib: 256,
  dataDiskMib: 16,
  ip: `10.240.${netId}.${octet}`,
  gateway: `10.240.${netId}.1`,
  mac: macFor(netId, octet),
  tenant: tenantNet(netId),
  ...extra,
});
