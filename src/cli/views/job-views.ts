import type { JobView } from '../../contract/jobs.ts';
import type { Block } from '../render.ts';

export function jobTable(jobs: readonly JobView[], empty: string): Block {
  return {
    kind: 'table',
    columns: ['ID', 'POOL', 'STATE', 'ATTEMPTS', 'PRIORITY', 'CREATED', 'ERROR'],
    rows: jobs.map((j) => [
      j.id,
      j.pool,
      j.state,
      `${j.attempts}/${j.maxAttempts}`,
      String(j.priority),
      j.createdAt,
      j.errorCode ?? '-',
    ]),
    empty,
  };
}

export function jobFields(j: JobView): Block {
  return {
    kind: 'fields',
    fields: [
      ['job', `${j.tenant}/${j.id}`],
      ['pool', j.pool],
      ['state', j.state],
      ['module', `sha256:${j.moduleSha256}`],
      ['priority', String(j.priority)],
      [
        'attempts',
        `${j.attempts} (failed ${j.failedAttempts}, lost ${j.lostAttempts}; max ${j.maxAttempts})`,
      ],
      ['run at', j.runAt],
      ['timeout', `${j.timeoutSecs} s`],
      ['worker', j.worker ?? '-'],
      ['lease until', j.leaseExpiresAt ?? '-'],
      ['key', j.key ?? '-'],
      ['retry of', j.retryOf ?? '-'],
      ['result', j.result ?? '-'],
      ['error', j.errorCode === null ? '-' : `${j.errorCode}: ${j.error ?? ''}`],
      ['created', j.createdAt],
      ['finished', j.finishedAt ?? '-'],
    ],
  };
}
