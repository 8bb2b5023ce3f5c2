import { mkdir, readFile } from 'node:fs/promises';
import { HostError, ValidationError } from '../../../core/errors.ts';
import { runHostChecks, systemHostProbe, type HostCheck } from '../../../agent/join/host-checks.ts';
import { hostFacts, nodeIdFromHostname } from '../../../agent/join/host-facts.ts';
import { joinHost } from '../../../agent/join/join-host.ts';
import { detectUnderlayIp } from '../../../agent/join/underlay-address.ts';
import { NodeProcessRunner } from '../../../drivers/process/node-process-runner.ts';
import { defineCommand, flag, option } from '../../command.ts';
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

export const addHost = defineCommand({
  path: ['add', 'host'],
  description:
    "Bootstrap this host and join it to the coordinator with a one-time token from 'mvm node join-token'",
  args: {},
  options: {
    production: flag('refuse to join when a host check fails; require https and a known CA'),
    nodeId: option(id('node'), 'the node id to join as (default: from the host name)'),
    ca: option(text('<file>'), "the coordinator's CA certificate (PEM) to verify it against"),
    caFingerprint: option(text('<sha256>'), "the coordinator CA's SHA-256 fingerprint"),
    underlayIp: option(
      unicastIpv4,
      'where other nodes reach this one for tenant VXLAN (default: the source address of the route to the coordinator)',
    ),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const { coordinatorUrl, token, dataDir } = ctx.config();
    const agent = ctx.agentConfig();
    const checks = await runHostChecks(systemHostProbe, {
      qemu: agent.qemu.binary,
      firecracker: agent.firecracker.binary,
    });
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
