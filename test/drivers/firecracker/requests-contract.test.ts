/**
 * Every request body the Firecracker driver can send, validated against Firecracker's own
 * API spec (shared/firecracker-swagger.yaml, v1.16.1). The schema for each request is found
 * from the spec's path and method, not picked by hand, so a wrong URL fails too.
 *
 * Older-release shapes are deliberately NOT validated here, because v1.16 no longer documents
 * them: `ht_enabled` in machine-config (before 1.0). Others are still in the 1.16 spec as
 * deprecated and are validated: `vsock_id`, `mem_file_path` and `enable_diff_snapshots`.
 */
import { readFileSync } from 'node:fs';
import AjvDraft04 from 'ajv-draft-04';
import type { ErrorObject } from 'ajv-draft-04';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseFirecrackerVersion } from '../../../src/drivers/firecracker/firecracker-version.ts';
import type { FirecrackerVersion } from '../../../src/drivers/firecracker/firecracker-version.ts';
import {
  actionRequest,
  apiShapesFor,
  balloonRequest,
  bootSourceRequest,
  driveRequest,
  loggerRequest,
  machineConfigRequest,
  metricsRequest,
  networkInterfaceRequest,
  snapshotCreateRequest,
  snapshotLoadRequest,
  vmStateRequest,
  vsockRequest,
} from '../../../src/drivers/firecracker/requests.ts';
import type { ApiRequest } from '../../../src/drivers/firecracker/requests.ts';
import { needSharedFile } from '../../support/shared-file.ts';

const SPEC_ID = 'firecracker-swagger.json';

interface SwaggerParameter {
  in: string;
  schema?: { $ref?: string };
}
interface SwaggerSpec {
  info: { version: string };
  paths: Record<string, Record<string, { parameters?: SwaggerParameter[] }>>;
  definitions: Record<string, unknown>;
}

const SUITE = 'Firecracker request bodies against the v1.16.1 API spec';
const specPath = needSharedFile('firecracker-swagger.yaml', SUITE);
const spec = specPath && (parse(readFileSync(specPath, 'utf8')) as SwaggerSpec);
// ajv-draft-04 is CommonJS: under NodeNext its class is the `default` of the module object.
// Swagger's integer formats carry no extra constraint worth checking here.
const ajv = new AjvDraft04.default({
  strict: false,
  allErrors: true,
  formats: { int32: true, int64: true },
});
if (spec) ajv.addSchema({ id: SPEC_ID, definitions: spec.definitions });

function version(text: string): FirecrackerVersion {
  const parsed = parseFirecrackerVersion(text);
  if (!parsed) throw new Error(`bad version ${text}`);
  return parsed;
}

/** Finds `/drives/{drive_id}` for `/drives/rootfs`, then the body parameter's definition. */
function bodySchemaRef(spec: SwaggerSpec, request: ApiRequest): string {
  for (const [template, operations] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (!pattern.test(request.path)) continue;
    const operation = operations[request.method.toLowerCase()];
    const ref = operation?.parameters?.find((p) => p.in === 'body')?.schema?.$ref;
    if (ref) return ref;
  }
  throw new Error(`no ${request.method} ${request.path} with a body in the spec`);
}

function validateIn(spec: SwaggerSpec, request: ApiRequest): string[] {
  const ref = bodySchemaRef(spec, request);
  const check = ajv.getSchema(`${SPEC_ID}${ref}`);
  if (!check) throw new Error(`schema ${ref} did not compile`);
  return check(request.body)
    ? []
    : (check.errors ?? []).map((e: ErrorObject) => `${e.instancePath} ${e.message}`);
}

function everyRequest(shapesVersion: FirecrackerVersion): ApiRequest[] {
  const shapes = apiShapesFor(shapesVersion);
  const snapshot = { snapshotPath: '/s/vmstate', memPath: '/s/memory' };
  return [
    loggerRequest('/w/firecracker.log', 'Info'),
    metricsRequest('/w/firecracker.metrics'),
    machineConfigRequest({ vcpus: 2, memMib: 256, trackDirtyPages: true }, shapes),
    machineConfigRequest({ vcpus: 1, memMib: 128, trackDirtyPages: false }, shapes),
    bootSourceRequest({ kernelPath: '/k/vmlinux', cmdline: 'console=ttyS0 root=/dev/vda ro' }),
    bootSourceRequest({ kernelPath: '/k/vmlinux', cmdline: '', initrdPath: '/k/initrd' }),
    driveRequest({ id: 'rootfs', path: '/d/rootfs.ext4', readOnly: true }),
    driveRequest({ id: 'data', path: '/d/data.ext4', readOnly: false }),
    driveRequest({ id: 'mvm-init', path: '/d/mvm-init.ext4', readOnly: true }),
    networkInterfaceRequest({ id: 'eth0', tap: 'mvm-tap0', mac: '06:00:ac:10:00:02' }),
    vsockRequest({ guestCid: 3, udsPath: '/w/vsock.sock' }, shapes),
    balloonRequest({ statsPollingIntervalS: 5 }, shapes),
    balloonRequest({ statsPollingIntervalS: 0 }, shapes),
    actionRequest('InstanceStart'),
    actionRequest('SendCtrlAltDel'),
    actionRequest('FlushMetrics'),
    vmStateRequest('Paused'),
    vmStateRequest('Resumed'),
    snapshotCreateRequest({ kind: 'full', ...snapshot }),
    snapshotCreateRequest({ kind: 'diff', ...snapshot }),
    snapshotLoadRequest({ ...snapshot, trackDirtyPages: true }, shapes),
    snapshotLoadRequest(
      {
        ...snapshot,
        trackDirtyPages: false,
        vsockUdsPath: '/w2/vsock.sock',
        tapOverrides: [{ ifaceId: 'eth0', tap: 'mvm-tap9' }],
      },
      shapes,
    ),
  ];
}

if (spec) describeAgainstSpec(spec);

function describeAgainstSpec(spec: SwaggerSpec): void {
  const validate = (request: ApiRequest): string[] => validateIn(spec, request);
  describe(SUITE, () => {
    it('reads the spec the driver targets', () => {
      expect(spec.info.version).toBe('1.16.1');
    });

    const latest = version(spec.info.version);
    it.each(
      everyRequest(latest).map((r) => [`${r.method} ${r.path} ${JSON.stringify(r.body)}`, r]),
    )('latest shapes: %s', (_name, request) => {
      expect(validate(request as ApiRequest)).toEqual([]);
    });

    it('uses the newest field names on 1.16', () => {
      const load = snapshotLoadRequest(
        { snapshotPath: '/s', memPath: '/m', trackDirtyPages: true, vsockUdsPath: '/v' },
        apiShapesFor(latest),
      ).body;
      expect(load).toMatchObject({
        mem_backend: { backend_type: 'File', backend_path: '/m' },
        track_dirty_pages: true,
        resume_vm: false,
        vsock_override: { uds_path: '/v' },
      });
      expect(load).not.toHaveProperty('mem_file_path');
      expect(load).not.toHaveProperty('enable_diff_snapshots');
      expect(
        vsockRequest({ guestCid: 3, udsPath: '/v' }, apiShapesFor(latest)).body,
      ).not.toHaveProperty('vsock_id');
    });

    // 1.0 is the real binary this project tests with; its shapes are still in the 1.16 spec
    // (deprecated), except ht_enabled which only applies before 1.0.
    it.each(everyRequest(version('1.0.0')).map((r) => [`${r.method} ${r.path}`, r]))(
      '1.0 shapes still validate: %s',
      (_name, request) => {
        expect(validate(request as ApiRequest)).toEqual([]);
      },
    );

    it('asks for free-page reporting only where the release has it', () => {
      const at = (v: string) =>
        balloonRequest({ statsPollingIntervalS: 5 }, apiShapesFor(version(v)));
      expect(at('1.0.0')).toEqual({
        method: 'PUT',
        path: '/balloon',
        body: { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 5 },
      });
      expect(at('1.13.1').body).not.toHaveProperty('free_page_reporting');
      expect(at('1.16.1').body).toMatchObject({ amount_mib: 0, free_page_reporting: true });
    });

    it('speaks 1.0 field names to a 1.0 VMM', () => {
      const load = snapshotLoadRequest(
        { snapshotPath: '/s', memPath: '/m', trackDirtyPages: true, vsockUdsPath: '/v' },
        apiShapesFor(version('1.0.0')),
      ).body;
      expect(load).toEqual({
        snapshot_path: '/s',
        mem_file_path: '/m',
        enable_diff_snapshots: true,
        resume_vm: false,
      });
    });

    it('adds ht_enabled and vsock_id only before 1.0 (not in the 1.16 spec)', () => {
      const old = apiShapesFor(version('0.25.2'));
      expect(
        machineConfigRequest({ vcpus: 1, memMib: 128, trackDirtyPages: false }, old).body,
      ).toHaveProperty('ht_enabled', false);
      expect(vsockRequest({ guestCid: 3, udsPath: '/v' }, old).body).toHaveProperty('vsock_id');
    });

    it('names drives and interfaces with ids Firecracker accepts ([A-Za-z0-9_])', () => {
      // Firecracker answers 400 "API Resource IDs can only contain alphanumeric characters
      // and underscores" to anything else; the spec does not say so, the binary does.
      for (const request of everyRequest(latest)) {
        const id = /^\/(?:drives|network-interfaces)\/(.+)$/.exec(request.path)?.[1];
        if (id === undefined) continue;
        expect(id).toMatch(/^[A-Za-z0-9_]+$/);
        const body = request.body as { drive_id?: string; iface_id?: string };
        expect(body.drive_id ?? body.iface_id).toBe(id);
      }
    });

    it('rejects bad bodies, so the passing cases mean something', () => {
      const missingRequired = { ...driveRequest({ id: 'x', path: '/p', readOnly: true }) };
      missingRequired.body = { drive_id: 'x', path_on_host: '/p' };
      expect(validate(missingRequired)).not.toEqual([]);

      const badEnum = snapshotCreateRequest({ kind: 'full', snapshotPath: '/s', memPath: '/m' });
      badEnum.body = { ...badEnum.body, snapshot_type: 'Incremental' };
      expect(validate(badEnum).join()).toMatch(/allowed values/);

      const badCid = vsockRequest({ guestCid: 2, udsPath: '/v' }, apiShapesFor(latest));
      expect(validate(badCid).join()).toMatch(/>= 3/);
    });
  });
}
