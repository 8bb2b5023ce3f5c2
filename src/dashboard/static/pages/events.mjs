import { list } from '../api.mjs';
import { h, replace, table } from '../dom.mjs';

const SHOWN = 200;

/** Audit events, newest first; new ones are prepended as they are written. */
export async function eventsPage(ctx, main) {
  const tenant = ctx.query.get('tenant') ?? undefined;
  const events = await list('/events', { tenant, last: SHOWN });
  const body = h('div', {});
  const render = () =>
    replace(
      body,
      table(
        'Audit events (live), newest first',
        ['Id', 'When', 'Tenant', 'Actor', 'Action', 'Target', 'Detail'],
        events,
        (e) => [
          e.id,
          e.at,
          e.tenantId ?? '',
          e.actor,
          e.action,
          e.target,
          JSON.stringify(e.detail),
        ],
        (e) => ({ dataset: { event: e.id } }),
      ),
    );
  ctx.onEvent.push((event) => {
    if (tenant !== undefined && event.tenantId !== tenant) return;
    if (events.some((e) => e.id === event.id)) return;
    events.unshift(event);
    events.length = Math.min(events.length, SHOWN);
    render();
  });
  replace(main, h('h1', {}, 'Events'), body);
  render();
}
