/**
 * The scheduler's lock: scheduling passes, node-loss detection and raises of placed instances
 * (services/raise-room.ts) run one at a time across replicas, so what one reads of a node's
 * held vCPUs and RAM stands until it commits.
 */
export const SCHEDULER_LOCK = 'mvm.scheduler';
