import { describe, expect, it } from 'vitest';
import { checkGatewayConfig, gatewayLimits } from '../../src/core/gateway-config.ts';

const problemsOf = (text: string) => {
  const checked = checkGatewayConfig(text);
  return checked.ok ? [] : checked.problems;
};

describe('gateway.json', () => {
  it('takes routes, an empty object and the default route', () => {
    const text = JSON.stringify({
      routes: [
        { to: '10.1.0.0/16', via: '10.240.3.1' },
        { to: '0.0.0.0/0', via: '192.168.1.1' },
      ],
    });
    expect(checkGatewayConfig(text)).toEqual({
      ok: true,
      config: {
        routes: [
          { to: '10.1.0.0/16', via: '10.240.3.1' },
          { to: '0.0.0.0/0', via: '192.168.1.1' },
        ],
      },
    });
    expect(checkGatewayConfig('{}')).toEqual({ ok: true, config: { routes: [] } });
  });

  it('reports every problem at once', () => {
    const text = JSON.stringify({
      routes: [
        { to: '10.1.0.1/16', via: '10.240.3.1' },
        { to: '10.2.0.0/16', via: '127.0.0.1', metric: 5 },
        'x',
        { to: '10.3.0.0/33', via: '10.240.3.01' },
      ],
      upstream: '10.0.0.1',
    });
    expect(problemsOf(text)).toEqual([
      "gateway.json: unknown key 'upstream' (known: routes)",
      'gateway.json: routes[0].to must be an IPv4 CIDR with host bits zero, like 10.1.0.0/16',
      "gateway.json: routes[1]: unknown key 'metric' (known: to, via)",
      'gateway.json: routes[1].via must be a unicast IPv4 address, like 10.240.3.1',
      'gateway.json: routes[2] must be an object {"to": CIDR, "via": IPv4}',
      'gateway.json: routes[3].to must be an IPv4 CIDR with host bits zero, like 10.1.0.0/16',
      'gateway.json: routes[3].via must be a unicast IPv4 address, like 10.240.3.1',
    ]);
  });

  it.each([
    ['not json', /^gateway\.json is not JSON: /],
    ['[]', /^gateway\.json must be a JSON object$/],
    ['null', /^gateway\.json must be a JSON object$/],
    ['{"routes":{}}', /routes must be an array/],
    [
      '{"routes":[{"to":"10.1.0.0/16","via":"10.0.0.1"},{"to":"10.1.0.0/16","via":"10.0.0.2"}]}',
      /two routes to 10\.1\.0\.0\/16/,
    ],
  ])('refuses %s', (text, problem) => {
    const problems = problemsOf(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it(`refuses more than ${gatewayLimits.routes} routes`, () => {
    const routes = Array.from({ length: gatewayLimits.routes + 1 }, (_, i) => ({
      to: `10.${i}.0.0/16`,
      via: '10.0.0.1',
    }));
    expect(problemsOf(JSON.stringify({ routes }))).toEqual([
      `gateway.json: ${gatewayLimits.routes + 1} routes, over the limit of ${gatewayLimits.routes}`,
    ]);
    expect(problemsOf(JSON.stringify({ routes: routes.slice(1) }))).toEqual([]);
  });
});
