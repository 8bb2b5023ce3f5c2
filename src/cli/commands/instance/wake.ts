import { instanceActionCommand } from './instance-action.ts';

export const instanceWake = instanceActionCommand(
  'wake',
  'Restore a sleeping or warm instance to running',
);
