import { readFile } from 'node:fs/promises';
import { errorMessage, ValidationError } from '../../../core/errors.ts';
import type { ApiClient } from '../../../drivers/coordinator-api/api-client.ts';
import { arg, defineCommand, option, requiredOption } from '../../command.ts';
import { id, integer, text } from '../../values.ts';
import { jobFields } from '../../views/job-views.ts';

async function readOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ValidationError(`cannot read ${what} ${path}: ${errorMessage(error)}`);
  }
}

/** `--input JSON` or `--input @FILE`; checked here so a typo never reaches the queue. */
async function inputOf(raw: string | undefined): Promise<string | undefined> {
  if (raw === undefined) return undefined;
  const textOf = raw.startsWith('@') ? (await readOrFail(raw.slice(1), 'input')).toString() : raw;
  try {
    JSON.parse(textOf);
  } catch (error) {
    throw new ValidationError(`--input is not JSON: ${errorMessage(error)}`);
  }
  return textOf;
}

/** Without --pool: the tenant's one worker pool, or a clear refusal naming the choices. */
async function poolOf(client: ApiClient, tenant: string, given: string | undefined) {
  if (given !== undefined) return given;
  const pools = await client.call('listPools', { params: { tenant } });
  const workers = pools.filter((p) => p.role === 'worker');
  if (workers.length === 1 && workers[0] !== undefined) return workers[0].id;
  const names = workers.map((p) => p.id).join(', ') || 'none';
  throw new ValidationError(`give --pool: tenant '${tenant}' has worker pools: ${names}`);
}

export const jobSubmit = defineCommand({
  path: ['job', 'submit'],
  description:
    'Submit a WebAssembly job: the module is checked against ABI v1, stored by sha256, and run once by a worker of the pool',
  args: { tenant: arg(id('tenant'), 'the tenant the job belongs to') },
  options: {
    wasm: requiredOption(text('<file>'), 'the module (.wasm) to run'),
    input: option(text('<json|@file>'), 'JSON handed to the module (default null)'),
    pool: option(id('pool'), "the worker pool (default: the tenant's only worker pool)"),
    priority: option(integer(0, 1000), 'higher runs first (default 0)'),
    maxAttempts: option(integer(1, 100), 'failed attempts before the job is dead (default 3)'),
    timeout: option(integer(1, 86_400), 'seconds one attempt may run (default 600)'),
    key: option(text('<key>'), 'idempotency key: a second submit with it gets the first job'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const client = ctx.client();
    const wasm = (await readOrFail(opts.wasm, 'module')).toString('base64');
    const input = await inputOf(opts.input);
    const pool = await poolOf(client, args.tenant, opts.pool);
    const submitted = await client.call('submitJob', {
      params: { tenant: args.tenant },
      body: {
        pool,
        wasm,
        ...(input === undefined ? {} : { input }),
        ...(opts.priority === undefined ? {} : { priority: opts.priority }),
        ...(opts.maxAttempts === undefined ? {} : { maxAttempts: opts.maxAttempts }),
        ...(opts.timeout === undefined ? {} : { timeoutSecs: opts.timeout }),
        ...(opts.key === undefined ? {} : { key: opts.key }),
      },
    });
    const said = submitted.created
      ? `submitted job '${args.tenant}/${submitted.job.id}'`
      : `job '${args.tenant}/${submitted.job.id}' already has key '${opts.key ?? ''}'; nothing added`;
    return {
      data: submitted,
      human: [{ kind: 'text', text: said }, jobFields(submitted.job)],
    };
  },
});
