import { instanceActionCommand } from './instance-action.ts';

export const instanceStop = instanceActionCommand(
  'stop',
  'Stop an instance (its data disk is kept)',
);
