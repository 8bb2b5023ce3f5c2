import type { LocalSpecInput } from '../../../src/contract/agent-api.ts';
import { tenantNet, tenantWorker } from './tenant-spec.ts';

/** The wake lab's tenant (net 9): its target at .2 and a same-tenant client beside it. */
export const WAKE_TARGET_IP = '10.240.9.2';
export const wakeTenant = tenantNet(9);

/** A small worker (128 MiB) of the wake lab's tenant at `10.240.9.<octet>`. */
export const wakeSpec = (octet: number, extra: Partial<LocalSpecInput> = {}): LocalSpecInput =>
  tenantWorker(9, octet, { memMib: 128, ...extra });
