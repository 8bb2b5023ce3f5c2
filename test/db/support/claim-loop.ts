/**
 * A claimer in its own process, for tests that need separate connections on SQLite too (one
 * process's connections would wait on each other's write lock synchronously). Usage:
 * claim-loop.ts STORE_URL WORKER AT LIMIT MAX_RUNNING|- once|drain BARRIER_DIR
 * Once its store is open it writes BARRIER_DIR/ready-WORKER and waits for BARRIER_DIR/go, so
 * all claimers start claiming together. Prints the claimed jobs as JSON lines of {id, tenantId}.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../../src/db/open-store.ts';

const [url = '', worker = '', at = '', limit = '1', max = '-', mode = 'drain', barrier = ''] =
  process.argv.slice(2);
const store = await openStore(url);
try {
  writeFileSync(join(barrier, `ready-${worker}`), '');
  while (!existsSync(join(barrier, 'go'))) await sleep(2);
  for (;;) {
    const batch = await store.jobQueue.claim({
      worker,
      at,
      leaseMs: 30_000,
      limit: Number(limit),
      token: randomBytes(16).toString('hex'),
      ...(max === '-' ? {} : { maxRunningPerTenant: Number(max) }),
    });
    for (const job of batch) {
      process.stdout.write(`${JSON.stringify({ id: job.id, tenantId: job.tenantId })}\n`);
    }
    if (batch.length === 0 || mode === 'once') break;
  }
} finally {
  await store.close();
}
