import type { Context, Env, Hono } from 'hono';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { fitAddonModule, xtermModule, xtermStylesheet } from './xterm-vendor.ts';

/** What the pages need from the coordinator's settings (served as /ui/config.json). */
export interface DashboardSettings {
  /** A node whose last heartbeat is older than this shows as stale, and its instances too. */
  staleAfterMs: number;
}

/** Who a bearer token is; throws UnauthenticatedError for a missing or unknown one. */
export type Identify = (
  authorization: string | undefined,
) => Promise<{ kind: 'admin' } | { kind: 'tenant'; tenantId: string }>;

/** The pages' files, beside this module in src/ and dist/ alike (scripts/build.sh copies them). */
const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/**
 * Everything comes from this host, no script runs inline, nothing frames the pages: the token
 * the login form keeps in sessionStorage is exposed to no other origin's script.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** A static file's name: letters, digits, dots, dashes and one folder level, never `..`. */
const ASSET_NAME = /^(?:[a-z0-9-]+\/)?[a-z0-9-]+\.(?:mjs|js|css|svg)$/;

function secured(c: Context, body: string, type: string): Response {
  c.header('Content-Security-Policy', CSP);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('X-Frame-Options', 'DENY');
  c.header('Cache-Control', 'no-cache');
  c.header('Content-Type', type);
  return c.body(body, 200);
}

/** eventsource-parser's browser build (a dependency), so the pages parse SSE as the CLI does. */
async function sseParserSource(): Promise<string> {
  const path = fileURLToPath(import.meta.resolve('eventsource-parser'));
  const source = await readFile(path, 'utf8');
  // Its source map is not shipped to the browser: no request for it.
  return source.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

/**
 * The web dashboard at /ui (docs/dashboard.md): static pages that call the same /v1 API with
 * the token the user logs in with. The files need no authentication (they hold no data); every
 * datum comes through /v1, scoped by the token.
 */
export function registerDashboard<E extends Env>(
  app: Hono<E>,
  settings: DashboardSettings,
  identify: Identify,
): void {
  const index = (c: Context) =>
    readFile(join(STATIC_DIR, 'index.html'), 'utf8').then((html) =>
      secured(c, html, types['html'] as string),
    );
  app.get('/ui', index);
  app.get('/ui/', index);
  app.get('/ui/config.json', (c) =>
    secured(c, JSON.stringify(settings), 'application/json; charset=utf-8'),
  );
  // Whom the pages act for: the admin sees the fleet, a tenant's token its own tenant only.
  app.get('/ui/session', async (c) => {
    const principal = await identify(c.req.header('authorization'));
    const who =
      principal.kind === 'admin' ? { admin: true } : { admin: false, tenant: principal.tenantId };
    c.header('Cache-Control', 'no-store');
    return c.json(who);
  });
  app.get('/ui/vendor/eventsource-parser.mjs', async (c) =>
    secured(c, await sseParserSource(), types['mjs'] as string),
  );
  // The instance page's terminal (src/dashboard/xterm-vendor.ts).
  app.get('/ui/vendor/xterm.mjs', async (c) =>
    secured(c, await xtermModule(), types['mjs'] as string),
  );
  app.get('/ui/vendor/xterm.css', async (c) =>
    secured(c, await xtermStylesheet(), types['css'] as string),
  );
  app.get('/ui/vendor/addon-fit.mjs', async (c) =>
    secured(c, await fitAddonModule(), types['mjs'] as string),
  );
  app.get('/ui/assets/*', async (c) => {
    const name = c.req.path.slice('/ui/assets/'.length);
    if (!ASSET_NAME.test(name)) return c.notFound();
    const ext = name.slice(name.lastIndexOf('.') + 1);
    const body = await readFile(join(STATIC_DIR, name), 'utf8').catch(() => undefined);
    if (body === undefined) return c.notFound();
    return secured(c, body, types[ext] as string);
  });
}
