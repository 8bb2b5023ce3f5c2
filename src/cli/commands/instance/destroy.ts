import { instanceActionCommand } from './instance-action.ts';

export const instanceDestroy = instanceActionCommand(
  'destroy',
  'Destroy an instance and its disks',
);
