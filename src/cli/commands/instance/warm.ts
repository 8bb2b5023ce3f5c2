import { instanceActionCommand } from './instance-action.ts';

export const instanceWarm = instanceActionCommand(
  'warm',
  'Pause a running instance (vCPUs stop, memory is kept)',
);
