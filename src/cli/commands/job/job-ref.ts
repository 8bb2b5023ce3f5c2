import { ValidationError } from '../../../core/errors.ts';
import { assertId } from '../../../core/ids.ts';
import type { ValueSpec } from '../../values.ts';

export interface JobRef {
  tenantId: string;
  jobId: string;
}

/** `tenant/job`: jobs are the tenant's, and their routes name both. */
export const jobPath: ValueSpec<JobRef> = {
  placeholder: '<tenant/job>',
  parse(raw) {
    const [tenant = '', job, ...rest] = raw.split('/');
    if (job === undefined || rest.length > 0) {
      const problem = `'${raw}' must look like <tenant>/<job> (see 'mvm job list <tenant>')`;
      throw new ValidationError(problem, [problem]);
    }
    return { tenantId: assertId('tenant', tenant), jobId: assertId('job', job) };
  },
};
