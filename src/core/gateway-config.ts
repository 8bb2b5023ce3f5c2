import { isUnicastIpv4, parseCidr } from './ipv4.ts';

/**
 * `gateway.json`, the file a gateway's guest applies from its config drive
 * (`/etc/mvm-config/gateway.json`, seed 003). Version 1 configures routing only: the guest
 * enables IP forwarding for its role and installs each route with `ip route replace TO via
 * VIA`. The guest agent checks the same rules again before it applies anything
 * (src/guest/agent/gateway.c), so a file that reached a guest some other way is refused there
 * too. Pure: text in, routes or problems out.
 */
export const GATEWAY_CONFIG_FILE = 'gateway.json';

export const gatewayLimits = { routes: 64 } as const;

export interface GatewayRoute {
  /** A canonical IPv4 CIDR (host bits zero); `0.0.0.0/0` replaces the default route. */
  to: string;
  /** The next hop: a unicast IPv4 address the gateway reaches on one of its links. */
  via: string;
}

export interface GatewayConfig {
  routes: GatewayRoute[];
}

export type GatewayCheck = { ok: true; config: GatewayConfig } | { ok: false; problems: string[] };

const KEYS = new Set(['routes']);
const ROUTE_KEYS = new Set(['to', 'via']);

/** Parses and checks a gateway.json text; every problem is reported, not only the first. */
export function checkGatewayConfig(text: string): GatewayCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`gateway.json is not JSON: ${(error as Error).message}`] };
  }
  if (!isObject(value)) return { ok: false, problems: ['gateway.json must be a JSON object'] };
  const problems = unknownKeys(value, KEYS, 'gateway.json');
  const routes = value.routes ?? [];
  if (!Array.isArray(routes)) {
    problems.push('gateway.json: routes must be an array of {"to": CIDR, "via": IPv4}');
    return { ok: false, problems };
  }
  if (routes.length > gatewayLimits.routes) {
    problems.push(
      `gateway.json: ${routes.length} routes, over the limit of ${gatewayLimits.routes}`,
    );
  }
  const parsed = routes.map((route, index) => checkRoute(route, index, problems));
  const seen = new Set<string>();
  for (const route of parsed) {
    if (!route) continue;
    if (seen.has(route.to)) problems.push(`gateway.json: two routes to ${route.to}`);
    seen.add(route.to);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { routes: parsed.filter((r): r is GatewayRoute => r !== undefined) } };
}

function checkRoute(route: unknown, index: number, problems: string[]): GatewayRoute | undefined {
  const where = `gateway.json: routes[${index}]`;
  if (!isObject(route)) {
    problems.push(`${where} must be an object {"to": CIDR, "via": IPv4}`);
    return undefined;
  }
  const before = problems.length;
  problems.push(...unknownKeys(route, ROUTE_KEYS, where));
  const { to, via } = route;
  if (typeof to !== 'string' || !isCidr(to)) {
    problems.push(`${where}.to must be an IPv4 CIDR with host bits zero, like 10.1.0.0/16`);
  }
  if (typeof via !== 'string' || !isUnicastIpv4(via)) {
    problems.push(`${where}.via must be a unicast IPv4 address, like 10.240.3.1`);
  }
  if (problems.length > before) return undefined;
  return { to: to as string, via: via as string };
}

function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

function unknownKeys(value: Record<string, unknown>, known: Set<string>, where: string): string[] {
  return Object.keys(value)
    .filter((key) => !known.has(key))
    .map((key) => `${where}: unknown key '${key}' (known: ${[...known].join(', ')})`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
