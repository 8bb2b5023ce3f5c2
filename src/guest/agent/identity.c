/*
 * The `identity` op (docs/clones.md): a clone restored from its pool's base snapshot wakes
 * with the base's hostname, addresses, machine-id, clock and random state. Before the host
 * lets its NIC carry frames, this op gives it its own: hostname, eth0's MAC/IP/route/MTU,
 * machine-id, the host's clock, an entropy reseed, and its own secrets/config drives. Every
 * field is checked first: a bad request changes nothing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define MAX_SEED 512

struct identity {
  const char *hostname, *ip, *gw, *mac, *machine_id, *seed;
  double now, mtu;
};

static int is_hex(const char *s, size_t min, size_t max) {
  size_t n = s ? strlen(s) : 0;
  if (n < min || n > max) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static int valid_hostname(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 63 || s[0] == '-' || s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
          s[i] == '.'))
      return 0;
  return 1;
}

static int valid_ipv4(const char *s) {
  struct in_addr a;
  return s && inet_pton(AF_INET, s, &a) == 1;
}

static int valid_cidr(const char *s) {
  char addr[32];
  const char *slash = s ? strchr(s, '/') : NULL;
  if (!slash || (size_t)(slash - s) >= sizeof addr) return 0;
  memcpy(addr, s, (size_t)(slash - s));
  addr[slash - s] = 0;
  char *end;
  long prefix = strtol(slash + 1, &end, 10);
  return valid_ipv4(addr) && slash[1] && !*end && prefix >= 1 && prefix <= 32;
}

/* xx:xx:xx:xx:xx:xx, lower-case hex, a unicast address (the low bit of the first octet 0). */
static int valid_mac(const char *s) {
  if (!s || strlen(s) != 17) return 0;
  for (int i = 0; i < 17; i++) {
    if (i % 3 == 2 ? s[i] != ':' : !is_hex((char[]){s[i], 0}, 1, 1)) return 0;
  }
  int first = (int)strtol((char[]){s[0], s[1], 0}, NULL, 16);
  return (first & 1) == 0;
}

/* The first field that is wrong, or NULL. */
static const char *check(const struct identity *id) {
  if (!valid_hostname(id->hostname)) return "hostname (1-63 of a-z 0-9 - .)";
  if (!valid_cidr(id->ip)) return "ip (a.b.c.d/prefix)";
  if (id->gw && !valid_ipv4(id->gw)) return "gw (a.b.c.d)";
  if (!valid_mac(id->mac)) return "mac (unicast xx:xx:xx:xx:xx:xx, lower case)";
  if (!is_hex(id->machine_id, 32, 32)) return "machine_id (32 lower-case hex digits)";
  if (!is_hex(id->seed, 32, 2 * MAX_SEED) || strlen(id->seed) % 2)
    return "seed (hex, 16-512 bytes)";
  if (id->mtu != 0 && (id->mtu < 576 || id->mtu > 9000)) return "mtu (576-9000)";
  if (id->now < 0) return "now (epoch seconds)";
  return NULL;
}

/* Runs `ip ARGS...` (mvm's busybox applet in a guest, the system's elsewhere); 0 on success. */
static int run_ip(const char *const *args) {
  const char *argv[16] = {"ip"};
  int n = 1;
  for (; args[n - 1] && n < 15; n++) argv[n] = args[n - 1];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    if (access("/mvm/bin/ip", X_OK) == 0) execv("/mvm/bin/ip", (char *const *)argv);
    execvp("ip", (char *const *)argv);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    logmsg("identity: ip %s %s failed (status %d)", args[0], args[1] ? args[1] : "", status);
    return -1;
  }
  return 0;
}

/* eth0 goes down (dropping its neighbours and routes), takes its MAC and address, comes up. */
static int apply_net(const struct identity *id) {
  char mtu[16];
  snprintf(mtu, sizeof mtu, "%d", (int)id->mtu);
  int bad = 0;
  bad |= run_ip((const char *[]){"link", "set", "eth0", "down", NULL});
  bad |= run_ip((const char *[]){"addr", "flush", "dev", "eth0", NULL});
  bad |= run_ip((const char *[]){"link", "set", "eth0", "address", id->mac, NULL});
  bad |= run_ip((const char *[]){"addr", "add", id->ip, "dev", "eth0", NULL});
  if (id->mtu) bad |= run_ip((const char *[]){"link", "set", "eth0", "mtu", mtu, NULL});
  bad |= run_ip((const char *[]){"link", "set", "eth0", "up", NULL});
  if (id->gw) bad |= run_ip((const char *[]){"route", "replace", "default", "via", id->gw, NULL});
  return bad ? -1 : 0;
}

/* Mixes the host's bytes into the pool, credits them, and forces the CRNG to reseed now. */
static int reseed(const char *hex) {
  size_t n = strlen(hex) / 2;
  struct {
    struct rand_pool_info info;
    unsigned char bytes[MAX_SEED];
  } e;
  for (size_t i = 0; i < n; i++)
    e.bytes[i] = (unsigned char)strtol((char[]){hex[2 * i], hex[2 * i + 1], 0}, NULL, 16);
  e.info.entropy_count = (int)(n * 8);
  e.info.buf_size = (int)n;
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int ok = write(fd, e.bytes, n) == (ssize_t)n;
  /* Root only (CAP_SYS_ADMIN): the write alone mixes without crediting or reseeding. */
  int credited = ioctl(fd, RNDADDENTROPY, &e.info) == 0;
#ifdef RNDRESEEDCRNG
  int reseeded = ioctl(fd, RNDRESEEDCRNG) == 0;
#else
  int reseeded = 0;
#endif
  close(fd);
  explicit_bzero(&e, sizeof e);
  return ok ? credited + reseeded : -1;
}

static void write_state(const char *name, const char *value) {
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/%s", state_dir(), name);
  int n = snprintf(line, sizeof line, "%s\n", value);
  if (n > 0 && (size_t)n < sizeof line) write_atomic(path, line, (size_t)n);
}

/* The state copy is the source; /etc/machine-id, when the image has one, shows it (bind). */
static int set_machine_id(const char *id) {
  char path[512];
  write_state("machine-id", id);
  snprintf(path, sizeof path, "%s/machine-id", state_dir());
  if (access("/etc/machine-id", F_OK) != 0) return 0;
  umount2("/etc/machine-id", MNT_DETACH); /* a previous identity's bind, if any */
  return mount(path, "/etc/machine-id", NULL, MS_BIND, NULL) == 0 ? 1 : -1;
}

void identity_op(const struct reply_to *r, const struct jv *req) {
  struct identity id = {
      .hostname = json_str(req, "hostname"),
      .ip = json_str(req, "ip"),
      .gw = json_str(req, "gw"),
      .mac = json_str(req, "mac"),
      .machine_id = json_str(req, "machine_id"),
      .seed = json_str(req, "seed"),
  };
  json_num(req, "now", &id.now);
  json_num(req, "mtu", &id.mtu);
  const char *bad = check(&id);
  if (bad) {
    reply_err(r, "bad_request", "identity: invalid %s; nothing was changed", bad);
    return;
  }
  if (id.now > 0) {
    struct timespec ts = {.tv_sec = (time_t)id.now,
                          .tv_nsec = (long)((id.now - (double)(time_t)id.now) * 1e9)};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0) logmsg("identity clock: %s", strerror(errno));
  }
  int entropy = reseed(id.seed);
  int host_ok = sethostname(id.hostname, strlen(id.hostname)) == 0;
  write_state("identity.hostname", id.hostname);
  write_state("identity.ip", id.ip);
  int machine = set_machine_id(id.machine_id);
  /* A guest without a NIC (a spec with network off) has no address to take. */
  int has_net = access("/sys/class/net/eth0", F_OK) == 0;
  int net = has_net ? apply_net(&id) : 0;
  drive_remount("secrets", "/run/secrets", json_str(req, "secrets"));
  if (drive_remount("config", "/etc/mvm-config", json_str(req, "config"))) apply_gateway();
  struct buf b = {0};
  jw_bool(&b, "hostname_set", host_ok);
  jw_bool(&b, "net_set", has_net && net == 0);
  jw_bool(&b, "machine_id_bound", machine == 1);
  jw_int(&b, "entropy", entropy); /* -1 failed, 0 mixed only, 1 credited, 2 credited+reseeded */
  if (!host_ok || net != 0 || entropy < 0) {
    reply_err(r, "identity_failed", "identity: hostname %s, network %s, entropy %d",
              host_ok ? "set" : "failed", net == 0 ? "set" : "failed", entropy);
    buf_free(&b);
    return;
  }
  reply_ok(r, &b);
  buf_free(&b);
}
