/** Kept for agent/desired/watch-desired.ts until it imports the one wait module directly. */
export { abortableSleep } from '../drivers/process/wait-until.ts';
