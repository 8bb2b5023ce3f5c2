/*
 * Sessions: commands (pipes or a pty) and file transfers, each on one stream of one host
 * connection. The rules the anchors' bugs taught: a command that cannot start answers
 * 127/126 at once (its child says why on stderr); the exit is sent when the main process is
 * reaped plus at most ~100 ms of draining, even while background children hold the pipes; a
 * timeout TERMs the whole process group and KILLs it after a grace; output is only read while
 * the host has granted credit, so neither side's memory grows with the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

struct session sessions[MAX_SESSIONS];

#define DRAIN_MS 100
#define DEFAULT_WINDOW (256 * 1024)
#define DEFAULT_GRACE_MS 2000

struct session *session_new(const struct reply_to *r, enum session_kind kind) {
  if (r->id == 0 || session_find(r->c, r->id)) {
    reply_err(r, "bad_request", "stream id %u is 0 or already in use", r->id);
    return NULL;
  }
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (s->used) continue;
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->kind = kind;
    s->c = r->c;
    s->gen = r->gen;
    s->id = r->id;
    s->out_fd = s->err_fd = s->in_fd = s->file_fd = -1;
    s->pid = -1;
    return s;
  }
  reply_err(r, "busy", "too many sessions (%d)", MAX_SESSIONS);
  return NULL;
}

struct session *session_find(struct conn *c, uint32_t id) {
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (s->used && s->c == c && s->gen == c->gen && s->id == id) return s;
  }
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void close_io(struct session *s) {
  if (s->pty) s->in_fd = -1; /* the same fd as out_fd */
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  close_fd(&s->in_fd);
}

void session_free(struct session *s) {
  close_io(s);
  close_fd(&s->file_fd);
  buf_free(&s->stdin_q);
  free(s->path);
  free(s->tmp);
  s->used = 0;
}

static int attached(const struct session *s) { return s->c && s->c->used && s->c->gen == s->gen; }

int session_count_busy(struct buf *labels) {
  int n = 0;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || !attached(s)) continue;
    n++;
    if (labels) {
      json_esc(labels, s->label, strlen(s->label));
      buf_addc(labels, ',');
    }
  }
  return n;
}

/* ---- pending process-group kills (they outlive the session that asked for them) ---- */
#define MAX_KILLS 256
static struct {
  pid_t pgid;
  int64_t at;
} kills[MAX_KILLS];

void group_kill_later(pid_t pgid, int64_t at) {
  for (int i = 0; i < MAX_KILLS; i++) {
    if (kills[i].pgid == 0) {
      kills[i].pgid = pgid;
      kills[i].at = at;
      return;
    }
  }
  kill(-pgid, SIGKILL); /* no room to wait: kill now */
}

static void run_kills(int64_t now) {
  for (int i = 0; i < MAX_KILLS; i++) {
    if (kills[i].pgid && kills[i].at <= now) {
      kill(-kills[i].pgid, SIGKILL);
      kills[i].pgid = 0;
    }
  }
}

/* ---- spawning ---- */
struct user {
  uid_t uid;
  gid_t gid;
  char home[256];
};

/* "root", "name", "1000" or "1000:1000", looked up in the image's /etc/passwd (no NSS). */
static int resolve_user(const char *spec, struct user *u) {
  u->uid = 0;
  u->gid = 0;
  strcpy(u->home, "/");
  if (!spec || !*spec) spec = "root";
  char name[128];
  snprintf(name, sizeof name, "%s", spec);
  char *colon = strchr(name, ':');
  long gid = -1;
  if (colon) {
    *colon = 0;
    char *end;
    gid = strtol(colon + 1, &end, 10);
    if (*end || gid < 0) return -1;
  }
  char *end;
  long num = strtol(name, &end, 10);
  int numeric = *name && !*end;
  FILE *f = fopen("/etc/passwd", "re");
  int found = 0;
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    char *fields[7] = {0};
    char *p = line;
    for (int i = 0; i < 7 && p; i++) {
      fields[i] = p;
      p = strchr(p, ':');
      if (p) *p++ = 0;
    }
    if (!fields[3]) continue;
    if (numeric ? atol(fields[2]) != num : strcmp(fields[0], name) != 0) continue;
    u->uid = (uid_t)atol(fields[2]);
    u->gid = (gid_t)atol(fields[3]);
    if (fields[5] && *fields[5]) snprintf(u->home, sizeof u->home, "%s", fields[5]);
    found = 1;
    break;
  }
  if (f) fclose(f);
  if (!found && !numeric) return -1;
  if (!found) u->uid = (uid_t)num;
  if (gid >= 0) u->gid = (gid_t)gid;
  return 0;
}

static int env_has(char **env, int n, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < n; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') return 1;
  return 0;
}

/* The request's env (an object of strings) over defaults; the agent's own env is not passed. */
static char **build_env(const struct jv *req, const struct user *u, int pty) {
  const struct jv *env = json_get(req, "env");
  int cap = 8;
  for (const struct jv *m = env ? env->child : NULL; m; m = m->next) cap++;
  char **out = calloc((size_t)cap, sizeof *out);
  int n = 0;
  for (const struct jv *m = env ? env->child : NULL; m; m = m->next) {
    if (m->type != J_STR || !m->key || !*m->key || strchr(m->key, '=')) continue;
    if (asprintf(&out[n], "%s=%s", m->key, m->str) >= 0) n++;
  }
  char *dflt[4];
  int nd = 0;
  if (!env_has(out, n, "PATH") &&
      asprintf(&dflt[nd], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") >= 0)
    nd++;
  if (!env_has(out, n, "HOME") && asprintf(&dflt[nd], "HOME=%s", u->home) >= 0) nd++;
  if (pty && !env_has(out, n, "TERM") && asprintf(&dflt[nd], "TERM=xterm-256color") >= 0) nd++;
  for (int i = 0; i < nd; i++) out[n++] = dflt[i];
  out[n] = NULL;
  return out;
}

static void free_strv(char **v) {
  for (int i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static char **build_argv(const struct jv *req) {
  const struct jv *argv = json_get(req, "argv");
  if (!argv || argv->type != J_ARR || !argv->child) return NULL;
  int n = 0;
  for (const struct jv *a = argv->child; a; a = a->next) {
    if (a->type != J_STR) return NULL;
    n++;
  }
  char **out = calloc((size_t)n + 1, sizeof *out);
  int i = 0;
  for (const struct jv *a = argv->child; a; a = a->next) out[i++] = strdup(a->str);
  return out;
}

static void child_fail(const char *what, const char *arg, int code) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "%s: %s: %s\n", what, arg, strerror(errno));
  ssize_t w = write(2, msg, n > 0 ? (size_t)n : 0);
  (void)w;
  _exit(code);
}

struct spawn {
  char **argv, **env;
  const char *cwd;
  struct user user;
  int set_user;
  int pty_slave; /* or -1 */
  int in, out, err;
};

static void child(const struct spawn *sp) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  setsid(); /* its own session and process group: a timeout or kill reaches all of it */
  if (sp->pty_slave >= 0) {
    ioctl(sp->pty_slave, TIOCSCTTY, 0);
    dup2(sp->pty_slave, 0);
    dup2(sp->pty_slave, 1);
    dup2(sp->pty_slave, 2);
  } else {
    dup2(sp->in, 0);
    dup2(sp->out, 1);
    dup2(sp->err, 2);
  }
  closefrom(3);
  if (sp->cwd && chdir(sp->cwd) < 0) child_fail("mvm-agent: cwd", sp->cwd, 126);
  if (sp->set_user) {
    if (setgroups(1, &sp->user.gid) < 0 && errno != EPERM) child_fail("mvm-agent", "setgroups", 126);
    if (setgid(sp->user.gid) < 0 || setuid(sp->user.uid) < 0) child_fail("mvm-agent", "setuid", 126);
  }
  environ = sp->env;
  execvp(sp->argv[0], sp->argv);
  child_fail("mvm-agent: exec", sp->argv[0], errno == ENOENT ? 127 : 126);
}

static int open_pty(int *master, int *slave, const struct jv *pty) {
  *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0) return -1;
  char name[128];
  if (ptsname_r(*master, name, sizeof name) != 0) return -1;
  *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) return -1;
  double cols = 80, rows = 24;
  json_num(pty, "cols", &cols);
  json_num(pty, "rows", &rows);
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(*master, TIOCSWINSZ, &ws);
  return 0;
}

static int setup_io(struct session *s, struct spawn *sp, const struct jv *req) {
  const struct jv *pty = json_get(req, "pty");
  int p[2];
  if (pty && pty->type == J_OBJ) {
    int master;
    if (open_pty(&master, &sp->pty_slave, pty) < 0) return -1;
    s->pty = 1;
    s->out_fd = s->in_fd = master;
    set_nonblock(master);
    return 0;
  }
  if (json_bool(req, "stdin", 0)) {
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    sp->in = p[0];
    s->in_fd = p[1];
  } else {
    sp->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  s->out_fd = p[0];
  sp->out = p[1];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  s->err_fd = p[0];
  sp->err = p[1];
  set_nonblock(s->out_fd);
  set_nonblock(s->err_fd);
  if (s->in_fd >= 0) set_nonblock(s->in_fd);
  return 0;
}

static void close_child_ends(struct spawn *sp) {
  close_fd(&sp->pty_slave);
  close_fd(&sp->in);
  close_fd(&sp->out);
  close_fd(&sp->err);
}

void exec_start(const struct reply_to *r, const struct jv *req) {
  struct spawn sp = {.pty_slave = -1, .in = -1, .out = -1, .err = -1};
  sp.argv = build_argv(req);
  if (!sp.argv) {
    reply_err(r, "bad_request", "exec needs argv: a non-empty array of strings");
    return;
  }
  const char *user = json_str(req, "user");
  if (resolve_user(user, &sp.user) < 0) {
    reply_err(r, "bad_request", "unknown user '%s' (not in /etc/passwd)", user);
    free_strv(sp.argv);
    return;
  }
  sp.set_user = user != NULL;
  sp.cwd = json_str(req, "cwd");
  struct session *s = session_new(r, S_EXEC);
  if (!s) {
    free_strv(sp.argv);
    return;
  }
  snprintf(s->label, sizeof s->label, "%s", sp.argv[0]);
  if (setup_io(s, &sp, req) < 0) {
    reply_err(r, "internal", "cannot set up the session's pipes: %s", strerror(errno));
    close_child_ends(&sp);
    session_free(s);
    free_strv(sp.argv);
    return;
  }
  sp.env = build_env(req, &sp.user, s->pty);
  pid_t pid = fork();
  if (pid == 0) child(&sp);
  int fork_errno = errno;
  close_child_ends(&sp);
  free_strv(sp.argv);
  free_strv(sp.env);
  if (pid < 0) {
    reply_err(r, "internal", "fork failed: %s", strerror(fork_errno));
    session_free(s);
    return;
  }
  s->pid = pid;
  double v;
  s->credit = json_num(req, "window", &v) && v > 0 ? (uint64_t)v : DEFAULT_WINDOW;
  s->kill_grace = json_num(req, "kill_grace_ms", &v) && v >= 0 ? (int64_t)v : DEFAULT_GRACE_MS;
  if (json_num(req, "timeout_ms", &v) && v > 0) s->deadline = now_ms() + (int64_t)v;
  struct buf body = {0};
  jw_int(&body, "pid", pid);
  jw_int(&body, "stdin_window", STDIN_WINDOW);
  reply_ok(r, &body);
  buf_free(&body);
}

static struct session *target(const struct reply_to *r, const struct jv *req) {
  double id;
  if (!json_num(req, "session", &id)) {
    reply_err(r, "bad_request", "needs the session's stream id");
    return NULL;
  }
  struct session *s = session_find(r->c, (uint32_t)id);
  if (!s || s->kind != S_EXEC) {
    reply_err(r, "not_found", "no session %u on this connection", (uint32_t)id);
    return NULL;
  }
  return s;
}

static int signal_number(const char *name) {
  static const struct {
    const char *name;
    int sig;
  } table[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT}, {"HUP", SIGHUP},
               {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
               {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
  if (name && strncmp(name, "SIG", 3) == 0) name += 3;
  for (size_t i = 0; name && i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0) return table[i].sig;
  return 0;
}

void exec_signal(const struct reply_to *r, const struct jv *req) {
  struct session *s = target(r, req);
  if (!s) return;
  int sig = signal_number(json_str(req, "signal"));
  if (!sig) {
    reply_err(r, "bad_request", "unknown signal; use TERM, KILL, INT, HUP, QUIT, USR1, USR2, ...");
    return;
  }
  if (!s->exited) kill(-s->pid, sig);
  reply_ok(r, NULL);
}

/* Ends a session early: a command's group is KILLed (its exit follows), a transfer dropped. */
void session_cancel(const struct reply_to *r, const struct jv *req) {
  double id;
  struct session *s = json_num(req, "session", &id) ? session_find(r->c, (uint32_t)id) : NULL;
  if (!s) {
    reply_err(r, "not_found", "no session to cancel on this connection");
    return;
  }
  if (s->kind == S_EXEC) {
    if (!s->exited) kill(-s->pid, SIGKILL);
  } else {
    struct buf body = {0};
    jw_str(&body, "error", "cancelled by the host");
    jw_str(&body, "code", "cancelled");
    send_event(s->c, s->id, "error", &body);
    buf_free(&body);
    file_abort(s);
  }
  reply_ok(r, NULL);
}

void exec_resize(const struct reply_to *r, const struct jv *req) {
  struct session *s = target(r, req);
  if (!s) return;
  double cols = 0, rows = 0;
  if (!s->pty || !json_num(req, "cols", &cols) || !json_num(req, "rows", &rows) || cols < 1 ||
      rows < 1) {
    reply_err(r, "bad_request", "resize needs a pty session and cols, rows >= 1");
    return;
  }
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(s->out_fd, TIOCSWINSZ, &ws);
  reply_ok(r, NULL);
}

/* ---- data ---- */
void session_on_stdin(struct session *s, const char *data, size_t n) {
  if (s->kind == S_PUT) {
    file_on_stdin(s, data, n);
    return;
  }
  if (s->in_fd < 0 || s->stdin_eof) return;
  buf_add(&s->stdin_q, data, n);
  session_write_stdin(s);
}

void session_on_eof(struct session *s) {
  if (s->kind == S_PUT) {
    file_on_eof(s);
    return;
  }
  if (s->pty) {
    session_on_stdin(s, "\x04", 1); /* a terminal's end of input is ^D */
    return;
  }
  s->stdin_eof = 1;
  session_write_stdin(s);
}

void session_on_credit(struct session *s, uint32_t n) { s->credit += n; }

static void grant_stdin(struct session *s, int force) {
  if (s->stdin_done == 0 || (!force && s->stdin_done < STDIN_WINDOW / 4)) return;
  send_credit(s->c, s->id, s->stdin_done);
  s->stdin_done = 0;
}

void session_write_stdin(struct session *s) {
  while (s->in_fd >= 0 && s->stdin_q.len) {
    ssize_t n = write(s->in_fd, s->stdin_q.p, s->stdin_q.len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) { /* the reader is gone: drop what is left, keep granting credit */
      s->stdin_done += (uint32_t)s->stdin_q.len;
      s->stdin_q.len = 0;
      if (!s->pty) close_fd(&s->in_fd);
      break;
    }
    s->stdin_done += (uint32_t)n;
    buf_drop(&s->stdin_q, (size_t)n);
  }
  grant_stdin(s, s->stdin_q.len == 0);
  if (s->stdin_eof && s->stdin_q.len == 0 && !s->pty) close_fd(&s->in_fd);
}

static void finish(struct session *s) {
  struct buf body = {0};
  int st = s->status;
  if (WIFSIGNALED(st)) {
    const char *names[] = {[SIGTERM] = "TERM", [SIGKILL] = "KILL", [SIGINT] = "INT",
                           [SIGHUP] = "HUP",   [SIGQUIT] = "QUIT", [SIGSEGV] = "SEGV",
                           [SIGABRT] = "ABRT", [SIGPIPE] = "PIPE", [SIGUSR1] = "USR1",
                           [SIGUSR2] = "USR2", [SIGALRM] = "ALRM", [SIGBUS] = "BUS"};
    int sig = WTERMSIG(st);
    const char *name = sig < (int)(sizeof names / sizeof names[0]) ? names[sig] : NULL;
    jw_int(&body, "code", s->timed_out ? 124 : 128 + sig);
    if (name) jw_str(&body, "signal", name);
    else jw_int(&body, "signal_number", sig);
  } else {
    jw_int(&body, "code", s->timed_out ? 124 : WEXITSTATUS(st));
  }
  jw_bool(&body, "timed_out", s->timed_out);
  send_event(s->c, s->id, "exit", &body);
  buf_free(&body);
  session_free(s);
}

static void read_output(struct session *s, int *fd, int type) {
  char chunk[MAX_OUT_PAYLOAD];
  while (*fd >= 0 && s->credit > 0 && !conn_congested(s->c)) {
    size_t want = s->credit < sizeof chunk ? (size_t)s->credit : sizeof chunk;
    ssize_t n = read(*fd, chunk, want);
    if (n > 0) {
      s->credit -= (uint64_t)n;
      send_frame(s->c, type, s->id, chunk, (size_t)n);
      if (!attached(s)) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    /* EOF, or EIO from a pty master once every slave is closed */
    if (s->pty) s->in_fd = -1;
    close_fd(fd);
    return;
  }
}

void session_on_output(struct session *s, int fd) {
  if (fd == s->out_fd) read_output(s, &s->out_fd, F_STDOUT);
  else if (fd == s->err_fd) read_output(s, &s->err_fd, F_STDERR);
  if (s->used && s->exited && s->out_fd < 0 && s->err_fd < 0) finish(s);
}

void session_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || s->kind != S_EXEC || s->pid != pid || s->exited) continue;
    s->exited = 1;
    s->status = status;
    s->exit_at = now_ms();
    s->drain_until = s->exit_at + DRAIN_MS;
    if (!attached(s)) {
      session_free(s);
      return;
    }
    /* Whatever is already in the pipes is read now; stragglers get until drain_until. */
    session_on_output(s, s->out_fd);
    if (s->used) session_on_output(s, s->err_fd);
    return;
  }
}

void session_timers(void) {
  int64_t now = now_ms();
  run_kills(now);
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || s->kind != S_EXEC) continue;
    if (!s->exited && s->deadline && now >= s->deadline && !s->timed_out) {
      s->timed_out = 1;
      kill(-s->pid, SIGTERM);
      group_kill_later(s->pid, now + s->kill_grace);
    }
    /* Time spent without credit does not count: the host is reading slowly, not absent. */
    if (s->exited && s->credit == 0) s->drain_until = now + DRAIN_MS;
    if (s->exited && now >= s->drain_until) finish(s);
  }
}

int64_t session_next_deadline(void) {
  int64_t next = 0;
  for (int i = 0; i < MAX_KILLS; i++)
    if (kills[i].pgid && (!next || kills[i].at < next)) next = kills[i].at;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || s->kind != S_EXEC) continue;
    int64_t t = s->exited ? s->drain_until : (s->timed_out ? 0 : s->deadline);
    if (t && (!next || t < next)) next = t;
  }
  return next;
}

/* The host went away: its commands are TERMed (KILLed after the grace), transfers dropped. */
void session_detach_conn(struct conn *c) {
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || s->c != c || s->gen != c->gen) continue;
    if (s->kind != S_EXEC) {
      file_abort(s);
      continue;
    }
    if (!s->exited) {
      kill(-s->pid, SIGTERM);
      group_kill_later(s->pid, now_ms() + s->kill_grace);
    }
    close_io(s);
    s->c = NULL;
    if (s->exited) session_free(s);
  }
}
