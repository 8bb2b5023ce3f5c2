/*
 * The workload service (`mvm-agent workload`, started by mvm's init after the agent): runs
 * the image's process from the run spec as its user, in its WorkingDir, with exactly its Env;
 * its stdout and stderr go to the bounded workload log; when it exits, its process group goes
 * too (as a container's would) and it is started again after a backoff that doubles from 1 s
 * to 30 s and resets once a run lasted 10 s. Its state (<state>/workload.json) is what the
 * agent's status reports, with the image's ports found listening.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 10000
#define STOP_GRACE_MS 5000
#define AGENT_WAIT_MS 10000

static struct {
  struct run_spec spec;
  struct wlog log;
  int sigfd, out;
  pid_t pid;
  int restarts;
  int64_t started, backoff_ms;
  int has_exit, exit_code;
  char exit_signal[16];
  int64_t exit_at;
} w = {.sigfd = -1, .out = -1, .pid = -1};

static void write_state(const char *state, const char *error) {
  char path[512];
  snprintf(path, sizeof path, "%s/workload.json", state_dir());
  struct buf b = {0};
  buf_addc(&b, '{');
  jw_str(&b, "state", state);
  jw_int(&b, "pid", w.pid > 0 ? w.pid : 0);
  jw_int(&b, "restarts", w.restarts);
  jw_int(&b, "started_mono_ms", w.started);
  jw_int(&b, "backoff_ms", w.backoff_ms);
  if (error) jw_str(&b, "error", error);
  if (w.has_exit) {
    buf_printf(&b, "\"last_exit\":{\"code\":%d,\"signal\":", w.exit_code);
    json_esc(&b, w.exit_signal, strlen(w.exit_signal));
    buf_printf(&b, ",\"at_mono_ms\":%lld},", (long long)w.exit_at);
  }
  b.len--; /* the trailing comma */
  buf_adds(&b, "}\n");
  write_atomic(path, b.p, b.len);
  buf_free(&b);
}

/* Stays up without a process to run, so init does not start it again and again. */
static void idle(const char *state, const char *error) {
  write_state(state, error);
  if (error) wlog_printf(&w.log, "[mvm] workload not started: %s\n", error);
  for (;;) pause();
}

static char **child_env(const struct user *u) {
  char **env = calloc((size_t)w.spec.nenv + 2, sizeof *env);
  int n = 0, home = 0;
  for (int i = 0; env && i < w.spec.nenv; i++) {
    home |= strncmp(w.spec.env[i], "HOME=", 5) == 0;
    env[n++] = w.spec.env[i];
  }
  if (env && !home && asprintf(&env[n], "HOME=%s", u->home) >= 0) n++;
  return env;
}

static void child(const struct user *u, int set_user, int out, pid_t parent) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  int in = open("/dev/null", O_RDONLY);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  closefrom(3);
  if (chdir(w.spec.cwd) < 0 && (mkdir(w.spec.cwd, 0755) < 0 || chdir(w.spec.cwd) < 0)) {
    fprintf(stderr, "[mvm] cannot enter the working directory %s: %s\n", w.spec.cwd, strerror(errno));
    _exit(126);
  }
  if (set_user && ((setgroups(1, &u->gid) < 0 && errno != EPERM) || setgid(u->gid) < 0 ||
                   setuid(u->uid) < 0)) {
    fprintf(stderr, "[mvm] cannot become user %s: %s\n", w.spec.user, strerror(errno));
    _exit(126);
  }
  /* After the user change, which clears it: the workload dies with its service. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  environ = child_env(u);
  execvp(w.spec.argv[0], w.spec.argv);
  fprintf(stderr, "[mvm] cannot run %s: %s\n", w.spec.argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

static int start(void) {
  struct user u;
  if (resolve_user(w.spec.user, &u) < 0) {
    char why[300];
    snprintf(why, sizeof why, "unknown user '%s' (not in the image's /etc/passwd)", w.spec.user);
    idle("invalid", why);
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) child(&u, *w.spec.user != 0, p[1], parent);
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return -1;
  }
  set_nonblock(p[0]);
  w.out = p[0];
  w.pid = pid;
  w.started = now_ms();
  write_state("running", NULL);
  return 0;
}

static void drain_output(void) {
  char chunk[16384];
  ssize_t n;
  while (w.out >= 0 && (n = read(w.out, chunk, sizeof chunk)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return; /* EAGAIN: nothing more for now */
    wlog_write(&w.log, chunk, (size_t)n);
  }
  close_fd(&w.out); /* EOF: every writer is gone */
}

static void exited(int status) {
  /* The process group goes with its main process, as a container's would. */
  kill(-w.pid, SIGKILL);
  drain_output();
  close_fd(&w.out);
  w.has_exit = 1;
  w.exit_at = now_ms();
  w.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  snprintf(w.exit_signal, sizeof w.exit_signal, "%s",
           WIFSIGNALED(status) ? sigabbrev_np(WTERMSIG(status)) ?: "?" : "");
  int64_t ran = w.exit_at - w.started;
  w.backoff_ms = ran >= STABLE_MS ? BACKOFF_MIN_MS
                 : w.backoff_ms ? (w.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w.backoff_ms * 2)
                                : BACKOFF_MIN_MS;
  w.pid = -1;
  wlog_printf(&w.log, "[mvm] workload exited (%s %d) after %lld ms; starting it again in %lld ms\n",
              *w.exit_signal ? "signal" : "code", *w.exit_signal ? WTERMSIG(status) : w.exit_code,
              (long long)ran, (long long)w.backoff_ms);
  write_state("backoff", NULL);
}

static void stop_and_exit(void) {
  if (w.pid > 0) {
    kill(-w.pid, SIGTERM);
    for (int64_t until = now_ms() + STOP_GRACE_MS; now_ms() < until && waitpid(w.pid, NULL, WNOHANG) == 0;)
      usleep(50000);
    kill(-w.pid, SIGKILL);
  }
  w.pid = -1;
  write_state("stopped", NULL);
  exit(0);
}

/* Signals: children to reap, or a request to stop. */
static void on_signals(void) {
  struct signalfd_siginfo info;
  int stop = 0;
  while (read(w.sigfd, &info, sizeof info) == sizeof info)
    if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) stop = 1;
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    if (pid == w.pid) exited(status);
  if (stop) stop_and_exit();
}

static void wait_for_agent(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/agent.ready", state_dir());
  for (int64_t until = now_ms() + AGENT_WAIT_MS; now_ms() < until && access(path, F_OK) < 0;)
    usleep(100000);
}

void workload_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  mkdir(state_dir(), 0755);
  wlog_open(&w.log);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  w.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  char why[512];
  int loaded = run_spec_load(&w.spec, why, sizeof why);
  if (loaded < 0) idle("invalid", why);
  if (loaded == 0 || !w.spec.argv[0]) idle("none", NULL);
  wait_for_agent();
  int64_t next_start = now_ms();
  for (;;) {
    if (w.pid < 0 && now_ms() >= next_start) {
      if (w.has_exit) w.restarts++;
      if (start() < 0) {
        wlog_printf(&w.log, "[mvm] cannot start the workload: %s\n", strerror(errno));
        next_start = now_ms() + BACKOFF_MAX_MS;
      }
    }
    struct pollfd pfd[2] = {{.fd = w.sigfd, .events = POLLIN}, {.fd = w.out, .events = POLLIN}};
    int timeout = w.pid < 0 ? (int)(next_start > now_ms() ? next_start - now_ms() : 0) : -1;
    if (poll(pfd, w.out >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) exit(1);
    if (w.out >= 0 && (pfd[1].revents & (POLLIN | POLLHUP))) drain_output();
    if (pfd[0].revents & POLLIN) {
      pid_t before = w.pid;
      on_signals();
      if (before > 0 && w.pid < 0) next_start = now_ms() + w.backoff_ms;
    }
  }
}
