// PID of the workload service, as root: prepares the data drive and the secrets file for
// the unprivileged gateway user, then becomes that user and execs the gateway in place.
import {
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import process from 'node:process';
const UID = 1000,
  GID = 1000;
const SECRETS = '/run/secrets',
  OUT = '/run/openclaw';
// Secrets OpenClaw reads from its environment by these names (its docs/help/environment.md):
// model providers' keys and channel tokens. `mvm secrets set <tenant> ANTHROPIC_API_KEY=...`
// reaches the gateway this way; a rotation takes effect at its next start, not at
// `secrets reload`, which re-reads only the SecretRefs of secrets.json.
const ENV_SECRET =
  /^(?:(?:ANTHROPIC|OPENAI|GEMINI|GOOGLE|OPENROUTER|MISTRAL|GROQ|XAI|DEEPSEEK|BRAVE)_API_KEY|(?:TELEGRAM|DISCORD|SLACK)_BOT_TOKEN|SLACK_APP_TOKEN)$/;
for (const dir of ['/data/openclaw', '/data/home']) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, UID, GID);
}
mkdirSync(OUT, { recursive: true, mode: 0o700 });
chownSync(OUT, UID, GID);
const values = {};
let names = [];
try {
  names = readdirSync(SECRETS);
} catch {
  // No secrets drive: the gateway starts with none.
}
for (const name of names) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
  try {
    values[name] = readFileSync(`${SECRETS}/${name}`, 'utf8').replace(/\n$/, '');
  } catch {
    // Unreadable (gone since the listing): left out, as a missing secret would be.
  }
}
const tmp = `${OUT}/secrets.json.tmp`;
writeFileSync(tmp, JSON.stringify(values), { mode: 0o600 });
chownSync(tmp, UID, GID);
renameSync(tmp, `${OUT}/secrets.json`);
if (process.argv[2] === '--secrets-only') process.exit(0);
const env = { ...process.env };
for (const [name, value] of Object.entries(values)) if (ENV_SECRET.test(name)) env[name] = value;
process.setgroups([]);
process.setgid(GID);
process.setuid(UID);
const main = '/opt/openclaw/node_modules/openclaw/openclaw.mjs';
process.execve(process.execPath, [process.execPath, main, ...process.argv.slice(2)], env);
