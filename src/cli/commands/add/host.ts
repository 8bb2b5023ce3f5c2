import { mkdir, readFile } from 'node:fs/promises';
import { HostError, ValidationError } from '../../../core/errors.ts';
import { runHostChecks, systemHostProbe, type HostCheck } from '../../../agent/join/host-checks.ts';
import { hostFacts, nodeIdFromHostname } from '../../../agent/join/host-facts.ts';
import { joinHost } from '../../../agent/join/join-host.ts';
import { detectUnderlayIp } from '../../../agent/join/underlay-address.ts';
import { NodeProcessRunner } from '../../../drivers/process/node-process-runner.ts';
import { defineCommand, flag, option } from '../../command.ts';
import type { CommandContext, CommandResult } from '../../command.ts';
import { prepareDevHost } from '../../onboarding/prepare-dev-host.ts';
import { id, text, unicastIpv4 } from '../../values.ts';

function checkLine(check: HostCheck): string {
  return `${check.ok ? 'ok  ' : 'FAIL'} ${check.name.padEnd(11)} ${check.detail}`;
}

/** Production joins need TLS and a CA known beforehand; dev joins only warn. */
function productionProblems(
  checks: readonly HostCheck[],
  url: string,
  trust: { ca?: string; caFingerprint?: string },
): string[] {
  const problems = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  if (!url.startsWith('https:')) problems.push('--coordinator must be an https:// URL');
  if (trust.ca === undefined && trust.caFingerprint === undefined) {
    problems.push("pass --ca <file> or --ca-fingerprint (printed by 'mvm node join-token')");
  }
  return problems;
}

/** Join tokens carry this prefix (join-service.ts); any other token is an API token. */
const JOIN_TOKEN_PREFIX = 'mvmj_';

/** The coordinator is this machine: the default URL or a loopback one. */
const isLocal = (url: string): boolean =>
  /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(url);

/**
 * No join token and no join-only flag, with a coordinator on this machine (or none): a dev
 * host on its own. Anything else is a join.
 */
function wantsDevHost(
  opts: { production?: boolean; ca?: string; caFingerprint?: string },
  config: { coordinatorUrl: string; token?: string },
): boolean {
  if (opts.production || opts.ca !== undefined || opts.caFingerprint !== undefined) return false;
  if (config.token?.startsWith(JOIN_TOKEN_PREFIX)) return false;
  return isLocal(config.coordinatorUrl);
}

/** With /dev/kvm the agent uses KVM when it boots a guest; without, QEMU's TCG (slow, fine for dev). */
function acceleratorCheck(checks: readonly HostCheck[]): HostCheck {
  const kvm = checks.find((c) => c.name === '/dev/kvm')?.ok === true;
  return {
    name: 'accelerator',
    ok: true,
    detail: kvm
      ? 'KVM (the agent falls back to TCG when KVM cannot boot a guest)'
      : 'TCG: no usable /dev/kvm, guests boot in seconds instead of milliseconds (fine for dev)',
  };
}

export const addHost = defineCommand({
  path: ['add', 'host'],
  description:
    "Prepare this host: with no arguments a dev host on its own (host checks, data dir, coordinator keys, node registration with a local coordinator); with --token from 'mvm node join-token', join it to a fleet",
  args: {},
  options: {
    production: flag('refuse to join when a host check fails; require https and a known CA'),
    nodeId: option(id('node'), 'the node id to join or register as (default: from the host name)'),
    ca: option(text('<file>'), "the coordinator's CA certificate (PEM) to verify it against"),
    caFingerprint: option(text('<sha256>'), "the coordinator CA's SHA-256 fingerprint"),
    underlayIp: option(
      unicastIpv4,
      'where other nodes reach this one for tenant VXLAN (default: the source address of the route to the coordinator)',
    ),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const config = ctx.config();
    const { coordinatorUrl, token, dataDir } = config;
    const agent = ctx.agentConfig();
    const checks = await runHostChecks(systemHostProbe, {
      qemu: agent.qemu.binary,
      firecracker: agent.firecracker.binary,
    });
    if (wantsDevHost(opts, config)) {
      const all = [...checks, acceleratorCheck(checks)];
      for (const check of all) ctx.print(checkLine(check));
      return devHost(ctx, { ...opts, checks: all, cacheDir: agent.cacheDir });
    }
    for (const check of checks) ctx.print(checkLine(check));
    const problems = opts.production ? productionProblems(checks, coordinatorUrl, opts) : [];
    if (problems.length > 0) {
      throw new HostError(`this host cannot join in production mode: ${problems.join('; ')}`, {
        problems,
      });
    }
    if (!opts.production && checks.some((c) => !c.ok)) {
      ctx.print('warning: some host checks failed; fine for a dev host, refused with --production');
    }
    if (token === undefined) {
      throw new ValidationError("pass the join token with --token (from 'mvm node join-token')", [
        '--token: required',
      ]);
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const facts = await hostFacts(dataDir);
    const runner = new NodeProcessRunner();
    const underlay = opts.underlayIp
      ? { ip: opts.underlayIp }
      : await detectUnderlayIp(coordinatorUrl, runner);
    if (underlay.ip === undefined) {
      ctx.print(
        `warning: no underlay address (${underlay.why}); tenant networks will not reach this node from others until it re-joins with --underlay-ip <ipv4>`,
      );
    }
    const joined = await joinHost({
      coordinatorUrl,
      token,
      nodeId: opts.nodeId ?? nodeIdFromHostname(facts.hostname),
      facts: { ...facts, ...(underlay.ip !== undefined ? { underlayIp: underlay.ip } : {}) },
      trust: {
        ...(opts.ca !== undefined ? { caPem: await readFile(opts.ca, 'utf8') } : {}),
        ...(opts.caFingerprint !== undefined ? { caFingerprint: opts.caFingerprint } : {}),
      },
      dataDir,
      runner,
    });
    if (joined.trustedOnFirstUse) {
      ctx.print("warning: the coordinator's CA was trusted on first use; pass --ca-fingerprint");
    }
    const data = { node: joined.node, checks, identityDir: `${dataDir}/node` };
    return {
      data,
      human: [
        {
          kind: 'fields',
          fields: [
            ['node', joined.node.id],
            ['coordinator', coordinatorUrl],
            ['credentials', data.identityDir],
            ['underlay', joined.node.underlayIp ?? 'unknown'],
            ['status', joined.node.status],
          ],
        },
        { kind: 'text', text: 'next: start the agent with `mvm agent serve`' },
      ],
    };
  },
});

async function devHost(
  ctx: CommandContext,
  opts: { nodeId?: string; underlayIp?: string; checks: HostCheck[]; cacheDir: string },
): Promise<CommandResult> {
  const { coordinatorUrl, token, dataDir } = ctx.config();
  const { hostname } = await import('node:os');
  const failed = opts.checks.filter((c) => !c.ok && c.name !== '/dev/kvm');
  if (failed.length > 0) {
    ctx.print('warning: some host checks failed; VMs may not start until they pass');
  }
  const result = await prepareDevHost({
    dataDir,
    cacheDir: opts.cacheDir,
    nodeId: opts.nodeId ?? nodeIdFromHostname(hostname()),
    coordinatorUrl,
    api: ctx.client(),
    hasToken: token !== undefined,
    checks: opts.checks,
    ...(opts.underlayIp !== undefined ? { underlayIp: opts.underlayIp } : {}),
    runner: new NodeProcessRunner(),
    print: (line) => ctx.print(line),
  });
  return {
    data: result,
    human: [
      {
        kind: 'fields',
        fields: [
          ['mode', 'dev host (standalone; join a fleet with --token from mvm node join-token)'],
          ['node', result.node],
          ['data dir', result.dataDir],
          [
            'coordinator',
            `${coordinatorUrl} (${result.coordinator.running ? 'running' : 'not running'})`,
          ],
        ],
      },
      { kind: 'text', text: ['next:', ...result.next.map((line) => `  ${line}`)].join('\n') },
    ],
  };
}
