import { describe, expect, it } from 'vitest';
import {
  checkProviderUrl,
  CUSTOM_PROVIDER_ID,
  openclawConfig,
  openclawConfigText,
  requiredSecrets,
} from '../../src/core/openclaw-config.ts';
import { ValidationError } from '../../src/core/errors.ts';
import {
  GATEWAY_PROFILE,
  gatewayKeyText,
  NODE_PIN,
  OPENCLAW_PIN,
  WORKER_PROFILE,
  workerKeyText,
  etcFiles,
} from '../../src/core/openclaw-profiles.ts';

const base = { sleeps: false, allowedOrigins: [] as string[] };

/** The parts of openclaw.json these tests read. */
interface Cfg {
  gateway: { controlUi?: unknown };
  secrets: { providers: Record<string, unknown> };
  update: unknown;
  agents: { defaults: { model?: unknown; heartbeat?: unknown } };
  models?: {
    providers: Record<
      string,
      { baseUrl: string; api: string; apiKey: unknown; models: Array<{ id: string }> }
    >;
  };
}
const cfg = (input: Parameters<typeof openclawConfig>[0]): Cfg =>
  openclawConfig(input) as unknown as Cfg;

describe('openclaw.json', () => {
  it('with workerSandbox, loads the image’s plugin and makes mvm the per-session sandbox', () => {
    const config = openclawConfig({ ...base, workerSandbox: true }) as unknown as {
      plugins: unknown;
      agents: { defaults: { sandbox: unknown } };
    };
    expect(config.plugins).toEqual({
      load: { paths: ['/opt/openclaw/node_modules/@mvm/openclaw-sandbox'] },
      entries: { mvm: { enabled: true } },
    });
    expect(config.agents.defaults.sandbox).toEqual({
      mode: 'all',
      backend: 'mvm',
      scope: 'session',
    });
    expect(JSON.stringify(openclawConfig(base))).not.toContain('sandbox');
  });

  it('keeps secrets out: the token is a file SecretRef into the launcher’s secrets file', () => {
    const config = cfg(base);
    expect(config.gateway).toEqual({
      mode: 'local',
      port: 18789,
      bind: 'lan',
      auth: {
        mode: 'token',
        token: { source: 'file', provider: 'mvm', id: '/OPENCLAW_GATEWAY_TOKEN' },
      },
    });
    expect(config.secrets.providers.mvm).toEqual({
      source: 'file',
      path: '/run/openclaw/secrets.json',
      mode: 'json',
    });
    expect(config.update).toEqual({ checkOnStart: false });
    expect(config.models).toBeUndefined();
    expect(requiredSecrets({})).toEqual(['OPENCLAW_GATEWAY_TOKEN']);
  });

  it('a custom OpenAI-compatible provider is the primary model, its key a SecretRef', () => {
    const provider = { url: 'http://10.0.0.1:8080/v1', model: 'stub-model' };
    const config = cfg({ ...base, provider });
    expect(config.agents.defaults.model).toEqual({ primary: `${CUSTOM_PROVIDER_ID}/stub-model` });
    const p = config.models?.providers[CUSTOM_PROVIDER_ID];
    expect(p?.baseUrl).toBe('http://10.0.0.1:8080/v1');
    expect(p?.api).toBe('openai-completions');
    expect(p?.apiKey).toEqual({
      source: 'file',
      provider: 'mvm',
      id: '/OPENCLAW_PROVIDER_API_KEY',
    });
    expect(p?.models.map((m) => m.id)).toEqual(['stub-model']);
    expect(requiredSecrets({ provider })).toEqual([
      'OPENCLAW_GATEWAY_TOKEN',
      'OPENCLAW_PROVIDER_API_KEY',
    ]);
    expect(openclawConfigText({ ...base, provider })).not.toContain('sk-');
  });

  it('tenants that sleep run without the heartbeat; origins go to the Control UI', () => {
    const config = cfg({
      sleeps: true,
      model: 'anthropic/claude-sonnet-4-5',
      allowedOrigins: ['http://127.0.0.1:18789'],
    });
    expect(config.agents.defaults).toEqual({
      model: { primary: 'anthropic/claude-sonnet-4-5' },
      heartbeat: { every: '0m' },
    });
    expect(config.gateway.controlUi).toEqual({ allowedOrigins: ['http://127.0.0.1:18789'] });
    expect(cfg(base).agents.defaults.heartbeat).toBeUndefined();
  });

  it('is stable text (the config drive is content-addressed)', () => {
    const input = { ...base, provider: { url: 'https://llm.example/v1', model: 'm' } };
    expect(openclawConfigText(input)).toBe(openclawConfigText({ ...input }));
    expect(openclawConfigText(input).endsWith('}\n')).toBe(true);
  });

  it.each([
    [{ provider: { url: 'ftp://x/v1', model: 'm' } }, 'is not http(s)'],
    [{ provider: { url: 'not a url', model: 'm' } }, 'is not a URL'],
    [{ provider: { url: 'http://u:p@x/v1', model: 'm' } }, 'carries credentials'],
    [{ provider: { url: 'http://x/v1', model: 'bad model' } }, 'model id'],
    [{ provider: { url: 'http://x/v1', model: 'm' }, model: 'a/b' }, 'not both'],
    [{ model: 'no-slash' }, 'is not <provider>/<model>'],
    [{ allowedOrigins: ['http://x/path'] }, 'is not scheme://host'],
  ])('refuses %j', (input, problem) => {
    const attempt = () => openclawConfig({ ...base, ...input });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (error) {
      expect(JSON.stringify((error as ValidationError).details)).toContain(problem);
    }
  });

  it('checkProviderUrl accepts http and https', () => {
    expect(checkProviderUrl('http://10.240.1.1:9000/v1')).toBeUndefined();
    expect(checkProviderUrl('https://api.example.com/v1')).toBeUndefined();
  });
});

describe('openclaw profiles', () => {
  const inputs = {
    node: NODE_PIN,
    openclaw: OPENCLAW_PIN,
    lockfileSha256: 'a'.repeat(64),
    toolchainKey: 'e'.repeat(64),
    launcherSha256: 'b'.repeat(64),
    hostFilesSha256: 'c'.repeat(64),
  };

  it('the gateway runs the launcher as root, which drops to uid 1000 with state on /data', () => {
    expect(GATEWAY_PROFILE.role).toBe('gateway');
    expect(GATEWAY_PROFILE.config.Entrypoint).toEqual([
      '/opt/node/bin/node',
      '/opt/mvm-openclaw/start.mjs',
    ]);
    expect(GATEWAY_PROFILE.config.Cmd).toEqual(['gateway']);
    expect(GATEWAY_PROFILE.config.User).toBeUndefined();
    expect(GATEWAY_PROFILE.config.Env).toEqual(
      expect.arrayContaining([
        'HOME=/data/home',
        'OPENCLAW_STATE_DIR=/data/openclaw',
        'OPENCLAW_CONFIG_PATH=/etc/mvm-config/openclaw.json',
        'OPENCLAW_CONFIG_READONLY=1',
        'OPENCLAW_NO_RESPAWN=1',
      ]),
    );
    expect(GATEWAY_PROFILE.config.ExposedPorts).toEqual({ '18789/tcp': {} });
    expect(etcFiles(GATEWAY_PROFILE)['etc/passwd']).toContain(
      'openclaw:x:1000:1000:openclaw:/data/home:',
    );
  });

  it('the worker holds a shell, python3 and coreutils and serves nothing', () => {
    expect(WORKER_PROFILE.role).toBe('worker');
    expect(WORKER_PROFILE.hostPrograms).toEqual(
      expect.arrayContaining(['/usr/bin/dash', '/usr/bin/python3.11', '/usr/bin/tar']),
    );
    expect(WORKER_PROFILE.config.ExposedPorts).toBeUndefined();
  });

  it('the cache key names every input: any change is another key', () => {
    const key = gatewayKeyText(inputs);
    expect(gatewayKeyText({ ...inputs })).toBe(key);
    for (const change of [
      { lockfileSha256: 'd'.repeat(64) },
      { toolchainKey: 'd'.repeat(64) },
      { launcherSha256: 'd'.repeat(64) },
      { hostFilesSha256: 'd'.repeat(64) },
      { node: { ...NODE_PIN, version: '24.22.3' } },
      { openclaw: { ...OPENCLAW_PIN, integrity: 'sha512-x' } },
    ]) {
      expect(gatewayKeyText({ ...inputs, ...change })).not.toBe(key);
    }
    expect(workerKeyText({ hostFilesSha256: 'c'.repeat(64) })).not.toBe(
      workerKeyText({ hostFilesSha256: 'd'.repeat(64) }),
    );
  });
});
