import { InternalError, isMvmError, MvmError } from '../../core/errors.ts';
import type { OpenclawPlan, OpenclawPool } from '../../core/openclaw-plan.ts';
import { describeSource, requestedSource } from '../../core/pool-source.ts';
import type { InstanceView, PoolView, TenantView } from '../../contract/resources.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { waitForDesired, type WaitOutcome } from './wait-desired.ts';

/**
 * Carries out an openclaw plan against the coordinator, step by step, printing each. A re-run
 * with the same name finishes or re-applies the deployment: what exists is kept (a pool of
 * another role is an error; one of other sizes is kept as it is, with a note), and the pools'
 * counts are set to the plan's again. A step that fails stops the run with an error naming
 * what was done and how to finish or remove it.
 */
export interface NewOpenclawInput {
  name: string;
  netId?: number;
  subnet?: string;
  plan: OpenclawPlan;
  /** Wait up to this long for every instance to reach its desired status (needs an agent). */
  waitMs?: number;
  api: ApiClient;
  print(line: string): void;
  /** The OpenClaw gateway's own steps: after the pools exist, before they are scaled. */
  beforeScale?: () => Promise<void>;
  /** After the instances reached their status: the gateway's readiness. */
  afterWait?: () => Promise<void>;
  /** What the image line says instead of the source's description. */
  imageNote?: string;
}

export interface NewOpenclawResult {
  tenant: TenantView & { status: 'created' | 'exists' };
  pools: Array<PoolView & { status: 'created' | 'exists'; notes: string[] }>;
  image: { kind: 'dev'; source: string; note: string };
  instances: InstanceView[];
  wait?: WaitOutcome;
  next: string;
}

const notFound = (error: unknown): boolean => isMvmError(error) && error.code === 'not_found';

async function getOrUndefined<T>(fetch: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fetch();
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

export class OpenclawRun {
  private readonly done: string[] = [];
  private step = '';

  constructor(private readonly input: NewOpenclawInput) {}

  async run(): Promise<NewOpenclawResult> {
    try {
      return await this.steps();
    } catch (error) {
      throw this.stopped(error);
    }
  }

  private async steps(): Promise<NewOpenclawResult> {
    const { name, plan, print } = this.input;
    const tenant = await this.tenant();
    const pools = [];
    for (const pool of plan.pools) pools.push(await this.pool(pool));
    this.step = 'image';
    const image = imageOf(plan.pools[0], this.input.imageNote);
    print(`image    ${image.note}`);
    if (this.input.beforeScale) {
      this.step = 'the OpenClaw gateway set-up';
      await this.input.beforeScale();
    }
    for (const pool of plan.pools) await this.scale(pool);
    const wait = await this.wait();
    if (this.input.afterWait && wait) {
      this.step = 'waiting for the gateway';
      await this.input.afterWait();
    }
    const instances = await this.input.api.call('listInstances', { query: { tenant: name } });
    print(`next     mvm connect ${name}`);
    return {
      tenant,
      pools,
      image,
      instances,
      ...(wait ? { wait } : {}),
      next: `mvm connect ${name}`,
    };
  }

  private async tenant(): Promise<NewOpenclawResult['tenant']> {
    const { api, name, netId, subnet, plan, print } = this.input;
    this.step = `tenant '${name}'`;
    const found = await getOrUndefined(() => api.call('getTenant', { params: { tenant: name } }));
    if (found) {
      const clash = networkClash(found, netId, subnet);
      if (clash) throw new MvmError('conflict', `tenant '${name}' already exists ${clash}`);
      print(`tenant   ${name} exists (net ${found.netId}, ${found.subnet}); kept as it is`);
      return { ...found, status: 'exists' };
    }
    const created = await api.call('createTenant', {
      body: {
        id: name,
        ...(netId !== undefined ? { netId } : {}),
        ...(subnet !== undefined ? { subnet } : {}),
        ...(Object.keys(plan.raised).length > 0 ? { quotas: plan.raised } : {}),
      },
    });
    this.done.push(`tenant '${name}' created`);
    print(
      `tenant   ${name} created: net ${created.netId}, ${created.subnet}, bridge ${created.bridge}`,
    );
    return { ...created, status: 'created' };
  }

  private async pool(pool: OpenclawPool): Promise<NewOpenclawResult['pools'][number]> {
    const { api, name, print } = this.input;
    this.step = `pool '${name}/${pool.id}'`;
    const params = { tenant: name, pool: pool.id };
    const found = await getOrUndefined(() => api.call('getPool', { params }));
    if (found) {
      if (found.role !== pool.role) {
        throw new MvmError(
          'conflict',
          `pool '${name}/${pool.id}' exists with role ${found.role}, not ${pool.role} (a pool's role never changes)`,
        );
      }
      const notes = sizeNotes(found, pool);
      await this.publishOn(found, pool);
      print(
        `pool     ${pool.id} exists (${found.role}, ${sizeText(found)})${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
      );
      return { ...found, status: 'exists', notes };
    }
    const created = await this.createPool(pool);
    this.done.push(`pool '${name}/${pool.id}' created`);
    print(`pool     ${pool.id} created (${pool.role}, ${sizeText(created)})`);
    return { ...created, status: 'created', notes: [] };
  }

  /**
   * Creates the pool; while another pool holds its published host port, tries the next one
   * (as many as the plan allows), so a second deployment gets the next free port.
   */
  private async createPool(pool: OpenclawPool) {
    const { api, name, print } = this.input;
    const { counts: _counts, hostPortTries = 1, publish, ...spec } = pool;
    const first = publish?.[0];
    for (let attempt = 0; ; attempt += 1) {
      const ports = first ? [{ ...first, hostPort: first.hostPort + attempt }] : publish;
      try {
        const body = { ...spec, ...(ports ? { publish: ports } : {}) };
        return await api.call('createPool', { params: { tenant: name }, body });
      } catch (error) {
        const taken =
          isMvmError(error) && error.code === 'conflict' && /host port/.test(error.message);
        const next = (first?.hostPort ?? 0) + attempt + 1;
        if (!taken || attempt + 1 >= hostPortTries || next > 65_535) throw error;
        print(`pool     ${pool.id}: host port ${next - 1} is taken, trying ${next}`);
      }
    }
  }

  /** An existing pool gets the plan's published ports and hooks when it lacks them. */
  private async publishOn(
    found: { publish?: unknown; hooks?: Record<string, string[]> | undefined },
    pool: OpenclawPool,
  ): Promise<void> {
    const { api, name, print } = this.input;
    const publish = (found.publish as unknown[] | undefined) ?? [];
    const hooks = Object.keys(found.hooks ?? {}).length === 0 ? pool.hooks : undefined;
    const body = {
      ...(publish.length === 0 && pool.publish ? { publish: pool.publish } : {}),
      ...(hooks ? { hooks } : {}),
    };
    if (Object.keys(body).length === 0) return;
    await api.call('updatePool', { params: { tenant: name, pool: pool.id }, body });
    print(`pool     ${pool.id}: ${Object.keys(body).join(' and ')} set`);
  }

  private async scale(pool: OpenclawPool): Promise<void> {
    const { api, name, print } = this.input;
    this.step = `scaling '${name}/${pool.id}'`;
    const result = await api.call('scalePool', {
      params: { tenant: name, pool: pool.id },
      body: pool.counts,
    });
    this.done.push(`'${name}/${pool.id}' scaled`);
    const { running, warm, sleeping } = pool.counts;
    print(
      `scale    ${pool.id}: ${running} running, ${warm} warm, ${sleeping} sleeping (${result.created.length} instance(s) created)`,
    );
  }

  private async wait(): Promise<WaitOutcome | undefined> {
    const { api, name, waitMs, print } = this.input;
    if (waitMs === undefined) {
      print(`boot     the agents converge on their own; watch with 'mvm connect ${name}'`);
      return undefined;
    }
    this.step = 'waiting for the instances';
    return waitForDesired(api, name, waitMs, (line) => print(`boot     ${line}`));
  }

  /** The error that stopped the run, saying what was done and how to finish or undo it. */
  private stopped(error: unknown): MvmError {
    const { name } = this.input;
    const cause = isMvmError(error)
      ? error
      : new InternalError(String(error), undefined, { cause: error });
    const done =
      this.done.length === 0 ? 'nothing was created' : `done so far: ${this.done.join(', ')}`;
    const undo =
      this.done.length === 0 ? '' : `, or remove it with 'mvm tenant destroy ${name} --force'`;
    return new MvmError(
      cause.code,
      `new openclaw '${name}' stopped at ${this.step}: ${cause.message}. ${done}. Fix the cause and run 'mvm new openclaw ${name}' again with the same flags to finish${undo}`,
      { ...cause.details, done: this.done },
      { cause },
    );
  }
}

function networkClash(t: TenantView, netId?: number, subnet?: string): string | undefined {
  if (netId !== undefined && netId !== t.netId) return `with net id ${t.netId}, not ${netId}`;
  if (subnet !== undefined && subnet !== t.subnet) return `with subnet ${t.subnet}, not ${subnet}`;
  return undefined;
}

const sizeText = (p: Pick<PoolView, 'vcpus' | 'memMib' | 'dataDiskMib'>): string =>
  `${p.vcpus} vCPU, ${p.memMib} MiB, ${p.dataDiskMib} MiB data disk`;

function sizeNotes(found: PoolView, pool: OpenclawPool): string[] {
  const wanted = sizeText(pool);
  return sizeText(found) === wanted ? [] : [`kept as it is (the flags ask for ${wanted})`];
}

function imageOf(pool: OpenclawPool | undefined, given?: string): NewOpenclawResult['image'] {
  const source = describeSource(requestedSource(pool ?? {}).source ?? { kind: 'dev' });
  const note =
    given !== undefined
      ? given
      : source === 'dev image'
        ? 'both pools boot the dev image'
        : `pools build from ${source}; both boot the dev image until 'mvm pool build' records a revision and 'mvm pool update --revision' selects it`;
  return { kind: 'dev', source, note };
}
