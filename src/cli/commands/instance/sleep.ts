import { instanceActionCommand } from './instance-action.ts';

export const instanceSleep = instanceActionCommand(
  'sleep',
  'Snapshot an instance to disk and free its memory. A busy guest (sessions, busy flags) is not slept: it keeps running with the refusal as its reason and its node retries, unless --force',
  {
    force:
      'snapshot it even while its guest is busy: sessions into it end, the workload is frozen as it is',
  },
);
