import { ApiError, follow, get, session } from './api.mjs';
import { h, replace } from './dom.mjs';
import { overviewPage } from './pages/overview.mjs';
import { tenantsPage } from './pages/tenants.mjs';
import { poolsPage } from './pages/pools.mjs';
import { instancesPage } from './pages/instances.mjs';
import { instancePage } from './pages/instance.mjs';
import { eventsPage } from './pages/events.mjs';
import { latencyPage } from './pages/latency.mjs';

const pages = {
  '': { title: 'Fleet', render: overviewPage },
  tenants: { title: 'Tenants', render: tenantsPage },
  pools: { title: 'Pools', render: poolsPage },
  instances: { title: 'Instances', render: instancesPage },
  events: { title: 'Events', render: eventsPage },
  latency: { title: 'Latency', render: latencyPage },
  instance: { title: 'Instance', render: instancePage, hidden: true },
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const banner = document.getElementById('banner');
const who = document.getElementById('who');

/** The page on screen: its listeners, and the signal that ends its work when it is left. */
let current;
const live = { connected: false, lastId: undefined };

function showBanner(message) {
  banner.hidden = message === undefined;
  banner.textContent = message ?? '';
}

function loginForm(message) {
  nav.hidden = true;
  who.textContent = '';
  const input = h('input', {
    id: 'token',
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    required: true,
  });
  const form = h(
    'form',
    {
      id: 'login',
      onsubmit: (e) => {
        e.preventDefault();
        session.login(input.value.trim());
        void start();
      },
    },
    h('h1', {}, 'Log in'),
    h('p', {}, 'Paste the admin token or a tenant token (mvm token issue).'),
    message ? h('p', { class: 'error', role: 'alert' }, message) : undefined,
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
  );
  replace(main, form);
  input.focus();
}

/** Who the token is: the admin (sees nodes) or a tenant (sees its own tenant only). */
async function identify() {
  const response = await fetch('/ui/session', {
    headers: { authorization: `Bearer ${session.token() ?? ''}` },
  });
  const body = await response.json();
  if (!response.ok) throw new ApiError(response.status, body.error?.code, body.error?.message);
  return body;
}

function route() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name = '', ...rest] = path.split('/');
  return { name, rest: rest.map(decodeURIComponent), query: new URLSearchParams(query) };
}

function renderNav(active) {
  replace(
    nav,
    Object.entries(pages)
      .filter(([, p]) => !p.hidden)
      .map(([name, p]) =>
        h(
          'a',
          { href: `#/${name}`, 'aria-current': name === active ? 'page' : undefined },
          p.title,
        ),
      ),
    h(
      'button',
      {
        type: 'button',
        onclick: () => {
          session.logout();
          location.hash = '';
          location.reload();
        },
      },
      'Log out',
    ),
  );
  nav.hidden = false;
}

async function show(ctxBase) {
  current?.stop.abort();
  const { name, rest, query } = route();
  const page = pages[name] ?? pages[''];
  renderNav(name in pages ? name : '');
  document.title = `${page.title} · mvm`;
  const stop = new AbortController();
  const ctx = { ...ctxBase, params: rest, query, signal: stop.signal, onEvent: [], onTick: [] };
  current = { stop, ctx };
  // Each page draws into its own element: one left while still loading draws off screen.
  const view = h('div', {}, h('p', {}, 'Loading…'));
  replace(main, view);
  try {
    await page.render(ctx, view);
  } catch (error) {
    if (stop.signal.aborted) return;
    if (error instanceof ApiError && error.status === 401) return loginForm(error.message);
    replace(
      view,
      h('h1', {}, page.title),
      h('p', { class: 'error', role: 'alert' }, error.message),
    );
  }
}

/** The audit stream, kept open while logged in; resumes where it left off after a break. */
async function stayLive(ctxBase) {
  for (let delay = 500; ; delay = Math.min(delay * 2, 8000)) {
    try {
      const query = live.lastId === undefined ? {} : { after: live.lastId };
      const opened = follow(query, new AbortController().signal, (event) => {
        live.lastId = event.id;
        for (const fn of current?.ctx.onEvent ?? []) fn(event);
      });
      live.connected = true;
      showBanner(undefined);
      await opened;
    } catch {
      // Reported below, as any break.
    }
    live.connected = false;
    showBanner(
      `Live updates lost at ${new Date().toLocaleTimeString()}: what you see may be out of date (reconnecting).`,
    );
    for (const fn of current?.ctx.onTick ?? []) fn(Date.now());
    await new Promise((resolve) => setTimeout(resolve, delay));
    // Events missed while away arrive on resume (?after=); the page re-reads too.
    if (current) void show(ctxBase);
  }
}

async function start() {
  if (!session.token()) return loginForm();
  let identity;
  try {
    identity = await identify();
  } catch (error) {
    session.logout();
    return loginForm(error instanceof ApiError ? error.message : String(error));
  }
  const config = await (await fetch('/ui/config.json')).json();
  const [newest] = await get('/events', { last: 1 }).catch(() => []);
  live.lastId = newest?.id ?? 0;
  who.textContent = identity.admin ? 'admin' : `tenant ${identity.tenant}`;
  const ctxBase = { identity, config, live };
  window.addEventListener('hashchange', () => void show(ctxBase));
  setInterval(() => {
    for (const fn of current?.ctx.onTick ?? []) fn(Date.now());
  }, 1000);
  void stayLive(ctxBase);
  await show(ctxBase);
}

void start();
