import { instanceActionCommand } from './instance-action.ts';

export const instanceSleep = instanceActionCommand(
  'sleep',
  "Snapshot an instance to disk and free its memory. Its guest drains first: work still in flight at the drain deadline (sessions, the workload's busy flags) keeps it running, and its node retries; the refusal shows as its failure reason",
  {
    force:
      'snapshot it even while its guest is busy: sessions into it end, the workload is frozen as it is',
  },
);
