import type { AuditEventView } from '../../contract/resources.ts';
import type { Block } from '../render.ts';

const MAX_DETAIL = 60;

function detailText(detail: Record<string, unknown>): string {
  if (Object.keys(detail).length === 0) return '';
  const text = JSON.stringify(detail);
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}

/** Audit events, as returned (newest first). */
export function eventTable(events: readonly AuditEventView[]): Block {
  return {
    kind: 'table',
    columns: ['AT', 'TENANT', 'ACTOR', 'ACTION', 'TARGET', 'DETAIL'],
    rows: events.map((e) => [
      e.at,
      e.tenantId ?? '-',
      e.actor,
      e.action,
      e.target,
      detailText(e.detail),
    ]),
    empty: 'no events recorded yet',
  };
}

/** One event on a line, as `mvm events --follow` prints it. */
export function eventLine(e: AuditEventView): string {
  const detail = detailText(e.detail);
  return [e.at, e.tenantId ?? '-', e.actor, e.action, e.target, ...(detail ? [detail] : [])].join(
    '  ',
  );
}
