import { listAll } from '../../../drivers/coordinator-api/pages.ts';
import { defineCommand } from '../../command.ts';
import { tenantTable } from '../../views/tenant-views.ts';

export const tenantList = defineCommand({
  path: ['tenant', 'list'],
  description: 'List the tenants this token can see',
  args: {},
  options: {},
  output: 'data',
  async handler(ctx) {
    const tenants = await listAll(ctx.client(), 'listTenants', {});
    return { data: tenants, human: [tenantTable(tenants)] };
  },
});
