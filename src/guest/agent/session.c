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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

struct session sessions[MAX_SESSIONS];

#define DRAIN_MS 100

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

static void close_io(struct session *s) {
  if (s->pty) s->in_fd = -1; /* the same fd as out_fd */
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  close_fd(&s->in_fd);
}

/* Idempotent: sending can reset the connection, which may free the session first. */
void session_free(struct session *s) {
  if (!s->used) return;
  close_io(s);
  close_fd(&s->file_fd);
  buf_free(&s->stdin_q);
  free(s->path);
  free(s->tmp);
  s->path = s->tmp = NULL;
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
