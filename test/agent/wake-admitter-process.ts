/**
 * The agent's wake admitter as a REAL separate process (what kill -9 must not hurt), wired as
 * the agent wires it (agent/wake/node-wake-admitter.ts: its data dir, its journal of
 * unreported wakes) over one sleeping VM record and a coordinator reached over HTTP.
 *
 *   node --import tsx wake-admitter-process.ts <data-dir> <coordinator-url> <token> <node>
 *     <record-json> [admit]
 *
 * Prints `up {"restored":N}` once started, `admitted <admission>` after `admit`, and
 * `reported` once nothing is left unreported; logs go to stderr.
 */
import type { BuiltRuntime } from '../../src/agent/build-runtime.ts';
import type { CoordinatorConnection } from '../../src/agent/coordinator-link.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { wakeAdmitter } from '../../src/agent/wake/node-wake-admitter.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../src/ports/logger.ts';

const [dataDir = '', baseUrl = '', token = '', nodeId = '', recordJson = '{}', action] =
  process.argv.slice(2);
const record = JSON.parse(recordJson) as VmRecord;
const line =
  (level: string) =>
  (fields: object, message?: string): void =>
    void process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
const logger = {
  info: line('info'),
  warn: line('warn'),
  error: line('error'),
  debug: line('debug'),
} as unknown as Logger;

const coordinator = {
  api: createApiClient({ baseUrl, token }),
  nodeId,
  settings: {},
} as unknown as CoordinatorConnection;
const built = {
  runtime: { list: () => Promise.resolve([record]) },
  deps: {},
} as unknown as BuiltRuntime;
const admitter = await wakeAdmitter(
  coordinator,
  built,
  { dataDir, wakeWithoutCoordinator: true },
  { vcpus: 2, memMib: 65536, diskGib: 100 },
  logger,
);
process.stdout.write(`up ${JSON.stringify({ restored: admitter.unreportedCount })}\n`);
if (action === 'admit') {
  const admission = await admitter.admit(
    record,
    { port: 80, from: '10.0.0.9', source: 'tenant' },
    'publish',
  );
  process.stdout.write(`admitted ${JSON.stringify(admission)}\n`);
}
const watch = setInterval(() => {
  if (admitter.unreportedCount > 0) return;
  clearInterval(watch);
  process.stdout.write('reported\n');
}, 50);
// Stays up until killed, as an agent would.
setInterval(() => undefined, 60_000);
