import { instanceActionCommand } from './instance-action.ts';

export const instanceStart = instanceActionCommand(
  'start',
  'Start an instance (from created, ready or stopped)',
);
