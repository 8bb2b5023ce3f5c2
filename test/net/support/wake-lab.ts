import type { LocalSpecInput } from '../../../src/contract/agent-api.ts';
import { macFor } from '../../../src/core/addresses.ts';

/** The wake lab's tenant (net 9): its target at .2 and a same-tenant client beside it. */
export const WAKE_TARGET_IP = '10.240.9.2';
export const wakeTenant = { netId: 9, subnet: '10.240.9.0/24', gateway: '10.240.9.1' };

/** A small worker of the wake lab's tenant at `10.240.9.<octet>`. */
export const wakeSpec = (octet: number, extra: Partial<LocalSpecInput> = {}): LocalSpecInput => ({
  role: 'worker',
  vcpus: 1,
  memMib: 128,
  dataDiskMib: 16,
  ip: `10.240.9.${octet}`,
  gateway: wakeTenant.gateway,
  mac: macFor(9, octet),
  tenant: wakeTenant,
  ...extra,
});
