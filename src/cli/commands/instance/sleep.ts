import { instanceActionCommand } from './instance-action.ts';

export const instanceSleep = instanceActionCommand(
  'sleep',
  'Snapshot an instance to disk and free its memory',
);
