import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../src/agent/agent-config.ts';
import type { AgentConfigSources } from '../../src/agent/agent-config.ts';
import { loadConfig } from '../../src/cli/config.ts';
import { DEFAULT_SAMPLE_TOLERANCE } from '../../src/core/sample-tolerance.ts';
import { filesReader, runIn } from '../cli/support/run-cli.ts';
import { validationProblems } from '../support/validation-problems.ts';

function load(sources: Partial<AgentConfigSources> & { files?: Record<string, string> }) {
  return loadAgentConfig({
    flags: {},
    env: {},
    readText: filesReader(sources.files),
    cwd: '/work',
    ...sources,
  });
}

const file = (json: unknown) => ({ '/etc/mvm/config.json': JSON.stringify(json) });

describe('loadAgentConfig', () => {
  it('has working defaults and is frozen all the way down', () => {
    const config = load({});
    expect(config).toEqual({
      dataDir: '/var/lib/mvm',
      socket: '/var/lib/mvm/agent.sock',
      cacheDir: '/var/cache/mvm',
      // Tests run as root, where /run is the tmpfs for it.
      secretsDir: process.getuid?.() === 0 ? '/run/mvm/secrets' : expect.stringMatching(/secrets$/),
      vmm: 'qemu',
      // The free-page-reporting balloon on; TCG's cache at the driver's default.
      qemu: { binary: 'qemu-system-x86_64', accel: 'auto', balloon: true },
      firecracker: { binary: 'firecracker', jailer: 'jailer' },
      // Confined unless turned off on purpose.
      confinement: { enabled: true, uidBase: 2_000_000_000 },
      // A dead agent's re-placeable VMMs are paused by its watchdog (docs/faults.md).
      fenceWatchdog: true,
      network: true,
      // Clones from pool bases only when asked for (docs/clones.md).
      clones: false,
      // The guest's caches are dropped before a warm only when asked for (docs/density.md).
      warmReclaim: false,
      // A wake the coordinator does not answer is admitted by the node's own count of room.
      wakeWithoutCoordinator: true,
      // An unused pool base lives ten minutes after its last instance left.
      baseGraceMs: 600_000,
      coordinator: {
        url: 'http://127.0.0.1:7070',
        production: false,
        heartbeatMs: 5000,
        // Each answer is signed afresh: ten minutes is for clock skew.
        maxDocumentAgeMs: 600_000,
        // An instance handed over is kept from the reconciler a minute, until its document.
        moveHoldMs: 60_000,
        // Gauges drift unsent within 50‰/25% (CPU), 1 MiB/5% (RSS), 1 MiB/1% (disk).
        sampleTolerance: DEFAULT_SAMPLE_TOLERANCE,
      },
      devImage: { busybox: '/bin/busybox', guestCc: 'gcc', executor: false },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.coordinator)).toBe(true);
    expect(Object.isFrozen(config.qemu)).toBe(true);
  });

  it('layers defaults <- file <- env <- flags, setting by setting', () => {
    const files = file({
      dataDir: '/srv/file',
      coordinatorUrl: 'http://file:1',
      agent: { vmm: 'firecracker', qemuAccel: 'kvm', heartbeatMs: 1000, netns: 'file-ns' },
    });
    const fromFile = load({ files });
    expect(fromFile).toMatchObject({
      dataDir: '/srv/file',
      socket: '/srv/file/agent.sock',
      vmm: 'firecracker',
      qemu: { accel: 'kvm' },
      netns: 'file-ns',
      coordinator: { url: 'http://file:1', heartbeatMs: 1000 },
      configFile: '/etc/mvm/config.json',
    });
    const env = { MVM_VMM: 'qemu', MVM_QEMU_ACCEL: 'tcg', MVM_DATA_DIR: 'rel/dir' };
    const fromEnv = load({ files, env });
    expect(fromEnv).toMatchObject({
      vmm: 'qemu',
      qemu: { accel: 'tcg' },
      dataDir: '/work/rel/dir',
    });
    const fromFlags = load({
      files,
      env,
      flags: { vmm: 'firecracker', heartbeatMs: 250, node: 'n1', production: true, vcpus: 16 },
    });
    expect(fromFlags).toMatchObject({
      vmm: 'firecracker',
      qemu: { accel: 'tcg' },
      coordinator: { heartbeatMs: 250, nodeId: 'n1', production: true, vcpus: 16 },
    });
    expect(load({ files: file({ agent: { vcpus: 8 } }) }).coordinator.vcpus).toBe(8);
    expect(validationProblems(() => load({ flags: { vcpus: 0 } }))).toEqual([
      "vcpus '0' (from flag --vcpus): must be at least 1",
    ]);
  });

  it('reads every env variable it declares into the right setting', () => {
    const config = load({
      env: {
        MVM_DATA_DIR: '/d',
        MVM_AGENT_SOCKET: '/run/mvm/agent.sock',
        MVM_CACHE_DIR: '/c',
        MVM_VMM: 'firecracker',
        MVM_QEMU_BINARY: '/opt/qemu',
        MVM_QEMU_ACCEL: 'tcg',
        MVM_QEMU_BALLOON: 'off',
        MVM_QEMU_TCG_CACHE_MIB: '16',
        MVM_WARM_RECLAIM: 'on',
        MVM_WAKE_WITHOUT_COORDINATOR: 'off',
        MVM_FIRECRACKER_BIN: '/opt/fc',
        MVM_JAILER_BIN: '/opt/jail/jailer',
        MVM_CONFINE: 'off',
        MVM_FENCE_WATCHDOG: 'off',
        MVM_NETWORK: 'off',
        MVM_COORDINATOR_URL: 'https://coord:7443/',
        MVM_TOKEN: 'secret-token',
        MVM_DEV_KERNEL_PACKAGE: 'linux-image-6.1.0-9-cloud-amd64',
        MVM_BUSYBOX: '/b/busybox',
        MVM_GUEST_CC: '/b/cc',
        MVM_WORKER_IMAGE: 'on',
        MVM_SECRETS_DIR: '/dev/shm/mvm-secrets',
        MVM_MAX_DOC_AGE_SECS: '120',
        MVM_BASE_GRACE_SECS: '30',
        MVM_MOVE_HOLD_SECS: '300',
        MVM_HEARTBEAT_CPU_TOLERANCE: '100,10%',
        MVM_HEARTBEAT_RSS_TOLERANCE: 'exact',
        MVM_HEARTBEAT_DISK_TOLERANCE: '4096,2.5%',
      },
    });
    expect(config).toEqual({
      dataDir: '/d',
      socket: '/run/mvm/agent.sock',
      cacheDir: '/c',
      secretsDir: '/dev/shm/mvm-secrets',
      vmm: 'firecracker',
      qemu: { binary: '/opt/qemu', accel: 'tcg', balloon: false, tcgCacheMib: 16 },
      firecracker: { binary: '/opt/fc', jailer: '/opt/jail/jailer' },
      confinement: { enabled: false, uidBase: 2_000_000_000 },
      fenceWatchdog: false,
      network: false,
      clones: false,
      warmReclaim: true,
      wakeWithoutCoordinator: false,
      baseGraceMs: 30_000,
      coordinator: {
        url: 'https://coord:7443',
        token: 'secret-token',
        production: false,
        heartbeatMs: 5000,
        maxDocumentAgeMs: 120_000,
        moveHoldMs: 300_000,
        sampleTolerance: {
          cpuPermille: { abs: 100, rel: 0.1 },
          rssKib: { abs: 0, rel: 0 },
          diskKib: { abs: 4096, rel: 0.025 },
          snapshotKib: { abs: 4096, rel: 0.025 },
          runningForMs: DEFAULT_SAMPLE_TOLERANCE.runningForMs,
        },
      },
      devImage: {
        kernelPackage: 'linux-image-6.1.0-9-cloud-amd64',
        busybox: '/b/busybox',
        guestCc: '/b/cc',
        executor: true,
      },
    });
  });

  it('reports every problem at once, each naming its value and where it came from', () => {
    const files = file({ agent: { heartbeatMs: 5, bogus: 1, underlayIp: '127.0.0.1' } });
    const env = { MVM_VMM: 'xen', MVM_QEMU_ACCEL: 'hvf', MVM_NETWORK: 'maybe', MVM_TOKEN: 'x' };
    const problems = validationProblems(() => load({ files, env, flags: { node: 'Bad_Node' } }));
    expect(problems).toEqual(
      expect.arrayContaining([
        "config file /etc/mvm/config.json at 'agent.bogus': not an agent setting",
        "vmm 'xen' (from env MVM_VMM): use qemu, firecracker",
        "qemuAccel 'hvf' (from env MVM_QEMU_ACCEL): use auto, kvm, tcg",
        "network 'maybe' (from env MVM_NETWORK): use on, off",
        "heartbeatMs '5' (from file /etc/mvm/config.json): must be at least 100",
        expect.stringMatching(/^underlayIp '127.0.0.1' \(from file .*\): a unicast IPv4/),
        expect.stringMatching(/^nodeId 'Bad_Node' \(from flag --node\): use 1-63 characters/),
      ]),
    );
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).not.toContain("'x'");
  });

  it('gauge tolerances: ABS,REL% or exact, from flag, env or file, each bad one named', () => {
    const config = load({
      files: file({ agent: { heartbeatRssTolerance: '2048,10%' } }),
      env: { MVM_HEARTBEAT_CPU_TOLERANCE: '10,5%' },
      flags: { heartbeatCpuTolerance: '0,50%', heartbeatDiskTolerance: 'exact' },
    });
    expect(config.coordinator.sampleTolerance).toEqual({
      cpuPermille: { abs: 0, rel: 0.5 },
      rssKib: { abs: 2048, rel: 0.1 },
      diskKib: { abs: 0, rel: 0 },
      snapshotKib: { abs: 0, rel: 0 },
      runningForMs: DEFAULT_SAMPLE_TOLERANCE.runningForMs,
    });
    const problems = validationProblems(() =>
      load({
        files: file({ agent: { heartbeatDiskTolerance: 5 } }),
        env: { MVM_HEARTBEAT_CPU_TOLERANCE: '50,250%' },
        flags: { heartbeatRssTolerance: '1 MiB' },
      }),
    );
    expect(problems).toEqual([
      "heartbeatCpuTolerance '50,250%' (from env MVM_HEARTBEAT_CPU_TOLERANCE): must be ABS,REL% (e.g. 50,25%): ABS a whole number of thousandths of a CPU, REL a percentage from 0 to 100; or exact",
      "heartbeatRssTolerance '1 MiB' (from flag --heartbeat-rss-tolerance): must be ABS,REL% (e.g. 1024,5%): ABS a whole number of KiB, REL a percentage from 0 to 100; or exact",
      "heartbeatDiskTolerance '5' (from file /etc/mvm/config.json): must be ABS,REL% (e.g. 1024,1%) or exact",
    ]);
  });

  it('the document age bound: from env or file, in seconds, checked', () => {
    const fromFile = load({ files: file({ agent: { maxDocumentAgeSecs: 60 } }) });
    expect(fromFile.coordinator.maxDocumentAgeMs).toBe(60_000);
    expect(validationProblems(() => load({ env: { MVM_MAX_DOC_AGE_SECS: 'soon' } }))).toEqual([
      "maxDocumentAgeSecs 'soon' (from env MVM_MAX_DOC_AGE_SECS): must be a number of seconds",
    ]);
    expect(validationProblems(() => load({ env: { MVM_MAX_DOC_AGE_SECS: '5' } }))).toEqual([
      "maxDocumentAgeSecs '5' (from env MVM_MAX_DOC_AGE_SECS): must be at least 10",
    ]);
  });

  it('the hold after a hand-over: from env or file, in seconds, bounded', () => {
    const fromFile = load({ files: file({ agent: { moveHoldSecs: 90 } }) });
    expect(fromFile.coordinator.moveHoldMs).toBe(90_000);
    expect(validationProblems(() => load({ env: { MVM_MOVE_HOLD_SECS: '5' } }))).toEqual([
      "moveHoldSecs '5' (from env MVM_MOVE_HOLD_SECS): must be at least 10",
    ]);
    expect(validationProblems(() => load({ env: { MVM_MOVE_HOLD_SECS: '100000' } }))).toEqual([
      "moveHoldSecs '100000' (from env MVM_MOVE_HOLD_SECS): must be at most 86400 (a day)",
    ]);
    expect(validationProblems(() => load({ env: { MVM_MOVE_HOLD_SECS: 'long' } }))).toEqual([
      "moveHoldSecs 'long' (from env MVM_MOVE_HOLD_SECS): must be a number of seconds",
    ]);
  });

  it("QEMU's memory: the balloon on or off, TCG's cache in MiB, from env or file, checked", () => {
    const fromFile = load({ files: file({ agent: { qemuBalloon: 'off', qemuTcgCacheMib: 8 } }) });
    expect(fromFile.qemu).toMatchObject({ balloon: false, tcgCacheMib: 8 });
    expect(validationProblems(() => load({ env: { MVM_QEMU_TCG_CACHE_MIB: '2' } }))).toEqual([
      "qemuTcgCacheMib '2' (from env MVM_QEMU_TCG_CACHE_MIB): must be at least 4",
    ]);
    expect(validationProblems(() => load({ env: { MVM_QEMU_BALLOON: 'maybe' } }))).toEqual([
      "qemuBalloon 'maybe' (from env MVM_QEMU_BALLOON): use on, off",
    ]);
    expect(load({ files: file({ agent: { warmReclaim: 'on' } }) }).warmReclaim).toBe(true);
    expect(validationProblems(() => load({ env: { MVM_WARM_RECLAIM: 'yes' } }))).toEqual([
      "warmReclaim 'yes' (from env MVM_WARM_RECLAIM): use on, off",
    ]);
    expect(
      load({ files: file({ agent: { wakeWithoutCoordinator: 'off' } }) }).wakeWithoutCoordinator,
    ).toBe(false);
    expect(
      validationProblems(() => load({ env: { MVM_WAKE_WITHOUT_COORDINATOR: 'maybe' } })),
    ).toEqual([
      "wakeWithoutCoordinator 'maybe' (from env MVM_WAKE_WITHOUT_COORDINATOR): use on, off",
    ]);
  });

  it('confinement: the jailer beside the Firecracker binary, the uid base from the file, checked', () => {
    const config = load({
      files: file({ agent: { firecrackerBin: '/opt/fc/firecracker', uidBase: 300_000_000 } }),
    });
    expect(config.firecracker).toEqual({ binary: '/opt/fc/firecracker', jailer: '/opt/fc/jailer' });
    expect(config.confinement).toEqual({ enabled: true, uidBase: 300_000_000 });
    const problems = validationProblems(() =>
      load({ files: file({ agent: { uidBase: 0 } }), env: { MVM_CONFINE: 'maybe' } }),
    );
    expect(problems).toEqual([
      "confine 'maybe' (from env MVM_CONFINE): use on, off",
      "uidBase '0' (from file /etc/mvm/config.json): must be at least 1000",
    ]);
  });

  it('arms the fault hook only for a named fault point (MVM_FAULT)', () => {
    expect(load({}).fault).toBeUndefined();
    expect(load({ env: { MVM_FAULT: 'sleep.after-snapshot' } }).fault).toBe('sleep.after-snapshot');
    const [problem] = validationProblems(() => load({ env: { MVM_FAULT: 'sleep' } }));
    expect(problem).toMatch(/^fault 'sleep' \(from env MVM_FAULT\): use create\.after-record, /);
  });

  it('binds published ports to 127.0.0.1 unless MVM_PUBLISH_ADDRESS names an address', () => {
    expect(load({}).publishAddress).toBeUndefined();
    expect(load({ env: { MVM_PUBLISH_ADDRESS: '0.0.0.0' } }).publishAddress).toBe('0.0.0.0');
    expect(load({ files: file({ agent: { publishAddress: '10.0.0.5' } }) }).publishAddress).toBe(
      '10.0.0.5',
    );
    const [problem] = validationProblems(() => load({ env: { MVM_PUBLISH_ADDRESS: 'localhost' } }));
    expect(problem).toMatch(
      /^publishAddress 'localhost' \(from env MVM_PUBLISH_ADDRESS\): must be an IPv4/,
    );
  });

  it('refuses an unreadable named file, bad JSON and a non-object agent section', () => {
    expect(validationProblems(() => load({ flags: { config: '/nope.json' } }))).toEqual([
      'config file /nope.json cannot be read; check the path given by --config or MVM_CONFIG',
    ]);
    const bad = { '/etc/mvm/config.json': '{not json' };
    expect(validationProblems(() => load({ files: bad }))[0]).toMatch(/is not valid JSON/);
    expect(validationProblems(() => load({ files: file({ agent: [] }) }))).toEqual([
      "config file /etc/mvm/config.json at 'agent': must be an object of agent settings",
    ]);
  });

  it("takes the local coordinator's admin token when none is configured", () => {
    const files = { '/var/lib/mvm/admin.token': 'local-admin\n' };
    expect(load({ files }).coordinator.token).toBe('local-admin');
    expect(load({ files, env: { MVM_TOKEN: 'mine' } }).coordinator.token).toBe('mine');
  });

  it("the CLI's own config accepts the file's agent section and leaves it to the agent", () => {
    const files = file({ coordinatorUrl: 'http://c:1', agent: { vmm: 'xen' } });
    const cli = loadConfig({ flags: {}, env: {}, readText: filesReader(files), cwd: '/work' });
    expect(cli.coordinatorUrl).toBe('http://c:1');
    expect(validationProblems(() => load({ files }))).toEqual([
      "vmm 'xen' (from file /etc/mvm/config.json): use qemu, firecracker",
    ]);
  });
});

describe('agent settings through the CLI', () => {
  it('agent commands refuse a bad agent setting with exit 2; other commands never read them', async () => {
    const env = { MVM_VMM: 'xen', MVM_NETWORK: 'maybe' };
    const serve = await runIn(['agent', 'serve', '--data-dir', '/nonexistent'], { env });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('the agent configuration has 2 problem(s)');
    expect(serve.stderr).toContain("network 'maybe' (from env MVM_NETWORK)");
    const list = await runIn(['agent', 'instance', 'list'], { env });
    expect(list.code).toBe(2);
    const completions = await runIn(['completions', 'bash'], { env });
    expect(completions.code).toBe(0);
  });
});
