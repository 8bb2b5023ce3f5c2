/*
 * Starting a command: argv, environment and user from the request (the user from the image's
 * own /etc/passwd: a static binary has no NSS), over the image's own Env and WorkingDir from
 * the run spec when the guest has one; pipes or a pty, then a child in its own session and
 * process group that execs it or says on stderr why it could not (127 not found, 126 anything
 * else).
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
#include <termios.h>
#include <unistd.h>

#include "agent.h"

#define DEFAULT_WINDOW (256 * 1024)
#define DEFAULT_GRACE_MS 2000

static int env_has(char **env, int n, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < n; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') return 1;
  return 0;
}

/*
 * The request's env (an object of strings) over the image's (run spec) over defaults; the
 * agent's own env is not passed.
 */
static char **build_env(const struct jv *req, const struct run_spec *spec, const struct user *u,
                        int pty) {
  const struct jv *env = json_get(req, "env");
  int cap = 8 + spec->nenv;
  for (const struct jv *m = env ? env->child : NULL; m; m = m->next) cap++;
  char **out = calloc((size_t)cap, sizeof *out);
  int n = 0;
  for (const struct jv *m = env ? env->child : NULL; m; m = m->next) {
    if (m->type != J_STR || !m->key || !*m->key || strchr(m->key, '=')) continue;
    if (asprintf(&out[n], "%s=%s", m->key, m->str) >= 0) n++;
  }
  for (int i = 0; i < spec->nenv; i++) {
    char name[256];
    size_t len = strcspn(spec->env[i], "=");
    snprintf(name, sizeof name, "%.*s", (int)len, spec->env[i]);
    if (!env_has(out, n, name) && (out[n] = strdup(spec->env[i]))) n++;
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

void free_strv(char **v) {
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
  int cwd_from_image; /* the image's WorkingDir: missing, it falls back to / */
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
  if (sp->cwd && chdir(sp->cwd) < 0 && (!sp->cwd_from_image || chdir("/") < 0))
    child_fail("mvm-agent: cwd", sp->cwd, 126);
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
    reply_err(r, "bad_request", "unknown user '%s' (not in /etc/passwd)", user ? user : "root");
    free_strv(sp.argv);
    return;
  }
  sp.set_user = user != NULL;
  struct run_spec spec;
  char why[256];
  if (run_spec_load(&spec, why, sizeof why) < 0) logmsg("exec without the image's defaults: %s", why);
  sp.cwd = json_str(req, "cwd");
  if (!sp.cwd && spec.cwd) {
    sp.cwd = spec.cwd;
    sp.cwd_from_image = 1;
  }
  struct session *s = session_new(r, S_EXEC);
  if (!s) {
    free_strv(sp.argv);
    run_spec_free(&spec);
    return;
  }
  snprintf(s->label, sizeof s->label, "%s", sp.argv[0]);
  if (setup_io(s, &sp, req) < 0) {
    reply_err(r, "internal", "cannot set up the session's pipes: %s", strerror(errno));
    close_child_ends(&sp);
    session_free(s);
    free_strv(sp.argv);
    run_spec_free(&spec);
    return;
  }
  sp.env = build_env(req, &spec, &sp.user, s->pty);
  pid_t pid = fork();
  if (pid == 0) child(&sp);
  int fork_errno = errno;
  close_child_ends(&sp);
  free_strv(sp.argv);
  free_strv(sp.env);
  run_spec_free(&spec);
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

