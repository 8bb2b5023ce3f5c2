/*
 * Requests: hello, ping, status (with the workload service's state), wake, drives, the
 * cooperative drain (sleep-prep), the workload's log (logs), and the session openers (exec,
 * signal, resize, put, get). Version-1 ops answer the same fields they
 * did from the busybox agent, so hosts of either version read them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static const char *CAPS =
    "[\"status\",\"wake\",\"drives\",\"drain\",\"exec\",\"exec.stdin\",\"exec.stream\","
    "\"exec.signal\",\"exec.timeout\",\"exec.user\",\"exec.env\",\"exec.cwd\",\"pty\",\"files\","
    "\"workload\",\"logs\",\"identity\",\"rid\"]";

/* ---- instance parameters and status ---- */
static void cmdline_param(const char *name, char *out, size_t cap) {
  char line[4096];
  out[0] = 0;
  if (read_small("/proc/cmdline", line, sizeof line) < 0) return;
  size_t len = strlen(name);
  for (char *w = strtok(line, " "); w; w = strtok(NULL, " ")) {
    if (strncmp(w, name, len) == 0 && w[len] == '=') {
      snprintf(out, cap, "%s", w + len + 1);
      break;
    }
  }
}

/* A clone's identity (identity.c) overrides what the base booted with on its command line. */
static void instance_param(const char *name, char *out, size_t cap) {
  char path[512], cmdname[32];
  snprintf(path, sizeof path, "%s/identity.%s", state_dir(), name);
  if (read_small(path, out, cap) > 0) return;
  snprintf(cmdname, sizeof cmdname, "mvm.%s", name);
  cmdline_param(cmdname, out, cap);
}

static long state_num(const char *name) {
  char path[512], text[64];
  snprintf(path, sizeof path, "%s/%s", state_dir(), name);
  return read_small(path, text, sizeof text) > 0 ? atol(text) : 0;
}

static long meminfo_kb(const char *key) {
  FILE *f = fopen("/proc/meminfo", "re");
  char line[256];
  long v = -1;
  size_t len = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, len) == 0 && line[len] == ':') v = atol(line + len + 1);
  if (f) fclose(f);
  return v;
}

static long self_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
  if (f) fclose(f);
  return v;
}

/*
 * `"cpu":{"busy":N,"idle":N}`: the guest's own CPU time from /proc/stat's first line, in
 * USER_HZ ticks summed over its CPUs (idle: idle; busy: everything else, iowait included).
 * The host compares two of them when the VMM's CPU says busy (docs/jobs.md, "Jobs e2e").
 */
static void cpu_body(struct buf *b) {
  char text[512];
  unsigned long long v[8] = {0};
  if (read_small("/proc/stat", text, sizeof text) <= 0) return;
  if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
             &v[4], &v[5], &v[6], &v[7]) < 4)
    return;
  unsigned long long busy = v[0] + v[1] + v[2] + v[4] + v[5] + v[6] + v[7];
  buf_printf(b, "\"cpu\":{\"busy\":%llu,\"idle\":%llu},", busy, v[3]);
}

/* `"busy":{...}` pieces: sessions in flight and the workload's own busy flags. */
static int busy_body(struct buf *b) {
  struct buf labels = {0}, flags = {0};
  int running = session_count_busy(&labels);
  int nflags = busy_flags(&flags);
  if (labels.len) labels.len--;
  if (flags.len) flags.len--;
  buf_printf(b, "\"busy\":{\"sessions\":%d,\"commands\":[%.*s],\"flags\":[%.*s]},", running,
             (int)labels.len, labels.p ? labels.p : "", (int)flags.len, flags.p ? flags.p : "");
  buf_free(&labels);
  buf_free(&flags);
  return running + nflags;
}

static void status(const struct reply_to *r) {
  struct buf b = {0};
  char text[256];
  double up = 0;
  if (read_small("/proc/uptime", text, sizeof text) > 0) up = atof(text);
  jw_num(&b, "uptime_s", up);
  jw_int(&b, "counter", state_num("counter"));
  instance_param("hostname", text, sizeof text);
  jw_str(&b, "hostname", text);
  instance_param("ip", text, sizeof text);
  char *slash = strchr(text, '/');
  if (slash) *slash = 0;
  jw_str(&b, "ip", text);
  if (read_small("/proc/sys/kernel/random/boot_id", text, sizeof text) <= 0) strcpy(text, "-");
  jw_str(&b, "boot_id", text);
  jw_int(&b, "remounts", state_num("remounts"));
  jw_int(&b, "mem_available_kb", meminfo_kb("MemAvailable"));
  jw_int(&b, "agent_rss_kb", self_rss_kb());
  cpu_body(&b);
  busy_body(&b);
  workload_status(&b);
  reply_ok(r, &b);
  buf_free(&b);
}

static void hello(const struct reply_to *r) {
  struct buf b = {0};
  char boot[64];
  jw_int(&b, "proto", PROTO_VERSION);
  jw_str(&b, "agent", AGENT_NAME);
  jw_str(&b, "version", AGENT_VERSION);
  jw_raw(&b, "caps", CAPS);
  jw_int(&b, "max_frame_in", MAX_IN_PAYLOAD);
  jw_int(&b, "max_frame_out", MAX_OUT_PAYLOAD);
  if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot) <= 0) strcpy(boot, "-");
  jw_str(&b, "boot_id", boot);
  reply_ok(r, &b);
  buf_free(&b);
}

/* ---- drives: remount secrets/config whose digest changed (same files as agent.sh) ---- */
static int valid_digest(const char *d) {
  if (!d || strlen(d) != 64) return 0;
  for (const char *p = d; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static void record_digest(const char *label, const char *digest) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.digest", state_dir(), label);
  if (!valid_digest(digest)) {
    unlink(path);
    return;
  }
  FILE *f = fopen(path, "we");
  if (f) {
    fprintf(f, "%s\n", digest);
    fclose(f);
  }
}

static int has_drive(const char *label, char *dev, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.dev", state_dir(), label);
  return read_small(path, dev, cap) > 0;
}

/* Returns 1 when the drive was mounted again (its content may have changed). */
int drive_remount(const char *label, const char *dir, const char *want) {
  char dev[256], path[512], have[128] = "";
  int remounted = 0;
  if (!has_drive(label, dev, sizeof dev)) return 0;
  snprintf(path, sizeof path, "%s/%s.digest", state_dir(), label);
  read_small(path, have, sizeof have);
  if (valid_digest(want) && strcmp(want, have) == 0) return 0;
  umount2(dir, MNT_DETACH);
  if (mount(dev, dir, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) == 0) {
    remounted = 1;
    snprintf(path, sizeof path, "%s/remounts", state_dir());
    FILE *f = fopen(path, "we");
    if (f) {
      fprintf(f, "%ld\n", state_num("remounts") + 1);
      fclose(f);
    }
  } else {
    logmsg("remount of %s failed: %s", label, strerror(errno));
    want = NULL;
  }
  record_digest(label, want);
  return remounted;
}

/*
 * A gateway applies a gateway.json that a wake brought: mvm's init does it (`/mvm/init
 * --apply-gateway`, as at boot). Double fork: init, not this loop, reaps the applier.
 */
void apply_gateway(void) {
  char role[32] = "";
  char path[512];
  snprintf(path, sizeof path, "%s/role", state_dir());
  if (read_small(path, role, sizeof role) <= 0 || strcmp(role, "gateway") != 0) return;
  pid_t child = fork();
  if (child == 0) {
    if (fork() == 0) {
      setsid();
      int fd = open("/dev/console", O_RDWR | O_CLOEXEC);
      if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl("/mvm/init", "/mvm/init", "--apply-gateway", (char *)NULL);
      _exit(127);
    }
    _exit(0);
  }
  if (child > 0) waitpid(child, NULL, 0);
}

static void wake(const struct reply_to *r, const struct jv *req) {
  double now;
  if (json_num(req, "now", &now) && now > 0) {
    struct timespec ts = {.tv_sec = (time_t)now};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0) logmsg("clock catch-up: %s", strerror(errno));
  }
  drive_remount("secrets", "/run/secrets", json_str(req, "secrets"));
  if (drive_remount("config", "/etc/mvm-config", json_str(req, "config"))) apply_gateway();
  reply_ok(r, NULL);
}

static void drives(const struct reply_to *r, const struct jv *req) {
  char dev[256];
  if (has_drive("secrets", dev, sizeof dev)) record_digest("secrets", json_str(req, "secrets"));
  if (has_drive("config", dev, sizeof dev)) record_digest("config", json_str(req, "config"));
  reply_ok(r, NULL);
}

/* ---- the cooperative drain ---- */
int busy_flags(struct buf *names) {
  char path[512];
  snprintf(path, sizeof path, "%s/busy.d", state_dir());
  DIR *d = opendir(path);
  int n = 0;
  for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    n++;
    if (names) {
      json_esc(names, e->d_name, strlen(e->d_name));
      buf_addc(names, ',');
    }
  }
  if (d) closedir(d);
  return n;
}

/* Leaves the RAM counter on the data drive so the host can check what reached the disk. */
static void record_sleep(void) {
  char dev[256];
  if (!has_drive("data", dev, sizeof dev)) return;
  FILE *f = fopen("/data/.mvm-last-sleep", "we");
  if (!f) return;
  fprintf(f, "%ld\n", state_num("counter"));
  fclose(f);
}

#define MAX_DRAINS 16
static struct {
  struct reply_to r;
  int64_t deadline;
} drains[MAX_DRAINS];

static void drain_answer(const struct reply_to *r, int drained) {
  record_sleep();
  sync();
  struct buf b = {0};
  jw_bool(&b, "drained", drained);
  busy_body(&b);
  reply_ok(r, &b);
  buf_free(&b);
}

static void sleep_prep(const struct reply_to *r, const struct jv *req) {
  double ms = 0;
  json_num(req, "deadline_ms", &ms);
  /* Version 1 meant "flush now": a line request without a deadline is answered drained. */
  if (ms <= 0 || session_count_busy(NULL) + busy_flags(NULL) == 0) {
    drain_answer(r, r->line || session_count_busy(NULL) + busy_flags(NULL) == 0);
    return;
  }
  for (int i = 0; i < MAX_DRAINS; i++) {
    if (reply_live(&drains[i].r)) continue;
    drains[i].r = *r;
    drains[i].deadline = now_ms() + (int64_t)ms;
    return;
  }
  drain_answer(r, 0);
}

void drain_tick(void) {
  int busy = -1;
  int64_t now = now_ms();
  for (int i = 0; i < MAX_DRAINS; i++) {
    if (!reply_live(&drains[i].r)) continue;
    if (busy < 0) busy = session_count_busy(NULL) + busy_flags(NULL);
    if (busy == 0 || now >= drains[i].deadline) {
      drain_answer(&drains[i].r, busy == 0);
      drains[i].r.c = NULL;
    }
  }
}

int64_t drain_next_deadline(void) {
  int64_t next = 0;
  for (int i = 0; i < MAX_DRAINS; i++) {
    if (!reply_live(&drains[i].r)) continue;
    /* Workload flags are files: look again every 100 ms while someone waits. */
    int64_t t = now_ms() + 100;
    if (drains[i].deadline < t) t = drains[i].deadline;
    if (!next || t < next) next = t;
  }
  return next;
}

/* `mvm-agent busy on|off NAME`: the workload's side of the drain, for scripts. */
void busy_cli(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")) || strchr(argv[3], '/') ||
      argv[3][0] == '.' || !argv[3][0]) {
    fprintf(stderr, "usage: mvm-agent busy on|off NAME  (NAME: no '/', not starting with '.')\n");
    exit(2);
  }
  char dir[512], path[1024];
  snprintf(dir, sizeof dir, "%s/busy.d", state_dir());
  snprintf(path, sizeof path, "%s/%s", dir, argv[3]);
  if (strcmp(argv[2], "off") == 0) {
    if (unlink(path) < 0 && errno != ENOENT) {
      perror(path);
      exit(1);
    }
    exit(0);
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(path);
    exit(1);
  }
  close(fd);
  exit(0);
}

/* ---- dispatch ---- */
static void ping(const struct reply_to *r, const struct jv *req) {
  (void)req;
  struct buf b = {0};
  jw_bool(&b, "ready", 1);
  reply_ok(r, &b);
  buf_free(&b);
}

static void hello_op(const struct reply_to *r, const struct jv *req) {
  (void)req;
  hello(r);
}

static void status_op(const struct reply_to *r, const struct jv *req) {
  (void)req;
  status(r);
}

static const struct {
  const char *op;
  void (*run)(const struct reply_to *, const struct jv *);
  int v1; /* also answered on a version-1 (line) connection */
} ops[] = {
    {"hello", hello_op, 1},      {"ping", ping, 1},        {"status", status_op, 1},
    {"wake", wake, 1},           {"drives", drives, 1},    {"sleep-prep", sleep_prep, 1},
    {"exec", exec_start, 0},     {"signal", exec_signal, 0}, {"resize", exec_resize, 0},
    {"put", file_put, 0},        {"get", file_get, 0},     {"cancel", session_cancel, 0},
    {"logs", logs_op, 0},        {"identity", identity_op, 0},
};

/* A request id as the host makes them (core/request-id.ts); anything else is ignored. */
static int valid_rid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-'))) return 0;
  }
  return 1;
}

void handle_request(const struct reply_to *given, const struct jv *req) {
  const char *op = json_str(req, "op");
  struct reply_to rr = *given;
  const struct reply_to *r = &rr;
  const char *rid = json_str(req, "rid");
  rr.rid[0] = 0;
  if (op && rid && valid_rid(rid)) {
    snprintf(rr.rid, sizeof rr.rid, "%s", rid);
    /* One console line per request made for a host request id (docs/api.md). */
    logmsg("op=%s rid=%s", op, rid);
  }
  for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++) {
    if (strcmp(ops[i].op, op) != 0 || (r->line && !ops[i].v1)) continue;
    ops[i].run(r, req);
    return;
  }
  if (!op) reply_err(r, "bad_request", "request without an op");
  else if (r->line) reply_err(r, "unknown_op", "unknown op");
  else reply_err(r, "unknown_op", "unknown op '%s'", op);
}
