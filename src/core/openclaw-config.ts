import { ValidationError } from './errors.ts';

/**
 * The `openclaw.json` a tenant's gateway reads from its config drive (pure). Secrets are never
 * in it: the gateway token and provider keys are SecretRefs into the file the gateway image's
 * launcher writes from `/run/secrets` (`/run/openclaw/secrets.json`, 0600, the gateway's user),
 * so `openclaw secrets reload` picks up a rotation without a restart. The shape was checked
 * with `openclaw config validate` of openclaw 2026.9.6 (docs/openclaw.md); `mvm new openclaw`
 * validates every file it ships with the pinned openclaw before it goes to the config drive.
 */
export const OPENCLAW_PORT = 18789;
export const OPENCLAW_CONFIG_FILE = 'openclaw.json';
/** Where the gateway image's launcher writes the secrets it collected from /run/secrets. */
export const OPENCLAW_SECRETS_FILE = '/run/openclaw/secrets.json';
export const GATEWAY_TOKEN_SECRET = 'OPENCLAW_GATEWAY_TOKEN';
/** The secret holding the key of a custom OpenAI-compatible provider (`--provider-url`). */
export const CUSTOM_PROVIDER_KEY_SECRET = 'OPENCLAW_PROVIDER_API_KEY';
export const CUSTOM_PROVIDER_ID = 'mvm-provider';
const SECRETS_PROVIDER = 'mvm';
/**
 * Where the openclaw-gateway image installs mvm's sandbox plugin (openclaw-plugin/): beside
 * openclaw in the app's node_modules, so its SDK imports resolve to the pinned openclaw.
 */
export const SANDBOX_PLUGIN_DIR = '/opt/openclaw/node_modules/@mvm/openclaw-sandbox';
/** The sandbox backend the plugin registers. */
export const SANDBOX_BACKEND = 'mvm';

export interface CustomProvider {
  /** Base URL of an OpenAI-compatible API, e.g. http://10.0.0.1:8080/v1. */
  url: string;
  /** The model id the provider serves. */
  model: string;
}

export interface OpenclawConfigInput {
  /** A custom OpenAI-compatible provider; its key is the secret OPENCLAW_PROVIDER_API_KEY. */
  provider?: CustomProvider;
  /** The primary model (`<provider>/<model>`) when no custom provider is given. */
  model?: string;
  /** Tenants that may sleep run without the heartbeat (its LLM turns would keep them awake). */
  sleeps: boolean;
  /** Browser origins allowed to open the Control UI (the published address). */
  allowedOrigins: readonly string[];
  /**
   * Tool execution in the tenant's worker microVMs (docs/openclaw.md, "Worker exec"): loads
   * the image's plugin and makes `mvm` every agent's sandbox backend, one worker per session.
   * Needs nodes whose agents run with MVM_WORKER_EXEC=on.
   */
  workerSandbox?: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const fileRef = (name: string): Json => ({
  source: 'file',
  provider: SECRETS_PROVIDER,
  id: `/${name}`,
});

/** A model id as OpenClaw writes it: `<provider>/<model>`, no spaces or control characters. */
const MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
const MODEL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

export function checkProviderUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--provider-url '${url}' is not a URL`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `--provider-url '${url}' is not http(s)`;
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return `--provider-url carries credentials; set the key with 'mvm secrets set <name> ${CUSTOM_PROVIDER_KEY_SECRET}=…' instead`;
  }
  return undefined;
}

function problems(input: OpenclawConfigInput): string[] {
  const found: string[] = [];
  if (input.provider) {
    const bad = checkProviderUrl(input.provider.url);
    if (bad) found.push(bad);
    if (!MODEL_ID_PATTERN.test(input.provider.model)) {
      found.push(`model id '${input.provider.model}' is not 1-128 of A-Z a-z 0-9 . _ : / -`);
    }
    if (input.model !== undefined) found.push('pass a custom provider or a model, not both');
  }
  if (input.model !== undefined && !MODEL_PATTERN.test(input.model)) {
    found.push(`model '${input.model}' is not <provider>/<model>`);
  }
  for (const origin of input.allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) found.push(`origin '${origin}' is not scheme://host`);
  }
  return found;
}

function customProvider(provider: CustomProvider): Json {
  return {
    mode: 'merge',
    providers: {
      [CUSTOM_PROVIDER_ID]: {
        baseUrl: provider.url,
        api: 'openai-completions',
        apiKey: fileRef(CUSTOM_PROVIDER_KEY_SECRET),
        models: [
          {
            id: provider.model,
            name: provider.model,
            contextWindow: 128000,
            maxTokens: 4096,
            input: ['text'],
            cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
            reasoning: false,
          },
        ],
      },
    },
  };
}

function agentDefaults(input: OpenclawConfigInput): Json {
  const primary = input.provider
    ? `${CUSTOM_PROVIDER_ID}/${input.provider.model}`
    : (input.model ?? null);
  return {
    ...(primary !== null ? { model: { primary } } : {}),
    ...(input.sleeps ? { heartbeat: { every: '0m' } } : {}),
    ...(input.workerSandbox === true
      ? { sandbox: { mode: 'all', backend: SANDBOX_BACKEND, scope: 'session' } }
      : {}),
  };
}

/** The config as a JSON value, in a stable key order (the drive is content-addressed). */
export function openclawConfig(input: OpenclawConfigInput): Json {
  const found = problems(input);
  if (found.length > 0) throw new ValidationError('openclaw.json would be invalid', found);
  return {
    gateway: {
      mode: 'local',
      port: OPENCLAW_PORT,
      bind: 'lan',
      auth: { mode: 'token', token: fileRef(GATEWAY_TOKEN_SECRET) },
      ...(input.allowedOrigins.length > 0
        ? { controlUi: { allowedOrigins: [...input.allowedOrigins] } }
        : {}),
    },
    secrets: {
      providers: {
        [SECRETS_PROVIDER]: { source: 'file', path: OPENCLAW_SECRETS_FILE, mode: 'json' },
      },
    },
    update: { checkOnStart: false },
    agents: { defaults: agentDefaults(input) },
    ...(input.provider ? { models: customProvider(input.provider) } : {}),
    ...(input.workerSandbox === true
      ? {
          plugins: {
            load: { paths: [SANDBOX_PLUGIN_DIR] },
            entries: { [SANDBOX_BACKEND]: { enabled: true } },
          },
        }
      : {}),
  };
}

export function openclawConfigText(input: OpenclawConfigInput): string {
  return `${JSON.stringify(openclawConfig(input), null, 2)}\n`;
}

/** The secrets the config refers to, which must exist before the gateway can start. */
export function requiredSecrets(input: Pick<OpenclawConfigInput, 'provider'>): string[] {
  return input.provider
    ? [GATEWAY_TOKEN_SECRET, CUSTOM_PROVIDER_KEY_SECRET]
    : [GATEWAY_TOKEN_SECRET];
}
