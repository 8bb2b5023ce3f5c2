/*
 * File transfers as sessions. put: content arrives as STDIN frames under a stdin window, is
 * written to a temporary file beside the target, and on EOF is synced, given its mode (and
 * owner) and renamed into place, so a reader never sees half a file. get: content leaves as
 * STDOUT frames while the host's credit lasts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int mode_of(const struct jv *req, mode_t fallback) {
  double m;
  if (!json_num(req, "mode", &m)) return (int)fallback;
  return m >= 0 && m <= 07777 ? (int)m : -1;
}

static const char *abs_path(const struct reply_to *r, const struct jv *req) {
  const char *path = json_str(req, "path");
  if (!path || path[0] != '/' || strlen(path) > 4000) {
    reply_err(r, "bad_request", "path must be an absolute path");
    return NULL;
  }
  return path;
}

void file_put(const struct reply_to *r, const struct jv *req) {
  const char *path = abs_path(r, req);
  if (!path) return;
  int mode = mode_of(req, 0644);
  if (mode < 0) {
    reply_err(r, "bad_request", "mode must be between 0 and 07777");
    return;
  }
  struct session *s = session_new(r, S_PUT);
  if (!s) return;
  snprintf(s->label, sizeof s->label, "put %s", path);
  s->path = strdup(path);
  if (asprintf(&s->tmp, "%s.mvm-put-%u-%d", path, r->id, (int)getpid()) < 0) s->tmp = NULL;
  s->file_fd = s->tmp ? open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
  if (s->file_fd < 0) {
    reply_err(r, errno == ENOENT ? "not_found" : "io", "cannot create %s: %s", path,
              strerror(errno));
    free(s->tmp);
    s->tmp = NULL;
    session_free(s);
    return;
  }
  s->status = mode; /* kept until EOF */
  double uid = -1, gid = -1;
  json_num(req, "uid", &uid);
  json_num(req, "gid", &gid);
  if (uid >= 0 || gid >= 0) {
    if (fchown(s->file_fd, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1)) {
      reply_err(r, "io", "cannot chown %s: %s", path, strerror(errno));
      file_abort(s);
      return;
    }
  }
  struct buf body = {0};
  jw_int(&body, "stdin_window", STDIN_WINDOW);
  reply_ok(r, &body);
  buf_free(&body);
}

static void put_failed(struct session *s, const char *what) {
  struct buf body = {0};
  char text[512];
  snprintf(text, sizeof text, "%s %s: %s", what, s->path, strerror(errno));
  jw_str(&body, "error", text);
  jw_str(&body, "code", "io");
  send_event(s->c, s->id, "error", &body);
  buf_free(&body);
  file_abort(s);
}

void file_on_stdin(struct session *s, const char *data, size_t n) {
  while (n > 0) {
    ssize_t w = write(s->file_fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      put_failed(s, "writing");
      return;
    }
    data += w;
    n -= (size_t)w;
    s->bytes += (uint64_t)w;
    s->stdin_done += (uint32_t)w;
  }
  if (s->stdin_done >= STDIN_WINDOW / 4) {
    send_credit(s->c, s->id, s->stdin_done);
    s->stdin_done = 0;
  }
}

void file_on_eof(struct session *s) {
  if (fsync(s->file_fd) < 0) {
    put_failed(s, "syncing");
    return;
  }
  if (fchmod(s->file_fd, (mode_t)s->status) < 0) {
    put_failed(s, "setting the mode of");
    return;
  }
  if (close(s->file_fd) < 0) {
    s->file_fd = -1;
    {
    put_failed(s, "closing");
    return;
  }
  }
  s->file_fd = -1;
  if (rename(s->tmp, s->path) < 0) {
    put_failed(s, "renaming into");
    return;
  }
  free(s->tmp);
  s->tmp = NULL;
  struct buf body = {0};
  jw_int(&body, "bytes", (long long)s->bytes);
  send_event(s->c, s->id, "done", &body);
  buf_free(&body);
  session_free(s);
}

void file_abort(struct session *s) {
  if (s->used && s->tmp) unlink(s->tmp);
  session_free(s);
}

void file_get(const struct reply_to *r, const struct jv *req) {
  const char *path = abs_path(r, req);
  if (!path) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    reply_err(r, errno == ENOENT ? "not_found" : "io", "cannot open %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    reply_err(r, "bad_request", "%s is not a regular file", path);
    close(fd);
    return;
  }
  struct session *s = session_new(r, S_GET);
  if (!s) {
    close(fd);
    return;
  }
  snprintf(s->label, sizeof s->label, "get %s", path);
  s->file_fd = fd;
  double v;
  s->credit = json_num(req, "window", &v) && v > 0 ? (uint64_t)v : 256 * 1024;
  struct buf body = {0};
  jw_int(&body, "size", (long long)st.st_size);
  jw_int(&body, "mode", st.st_mode & 07777);
  jw_int(&body, "uid", st.st_uid);
  jw_int(&body, "gid", st.st_gid);
  reply_ok(r, &body);
  buf_free(&body);
}

int file_get_pump(struct session *s) {
  char chunk[MAX_OUT_PAYLOAD];
  if (!s->used || !s->c || s->credit == 0 || conn_congested(s->c)) return 0;
  size_t want = s->credit < sizeof chunk ? (size_t)s->credit : sizeof chunk;
  ssize_t n = read(s->file_fd, chunk, want);
  if (n < 0 && errno == EINTR) return 1;
  if (n < 0) {
    struct buf body = {0};
    jw_str(&body, "error", strerror(errno));
    jw_str(&body, "code", "io");
    send_event(s->c, s->id, "error", &body);
    buf_free(&body);
    session_free(s);
    return 1;
  }
  if (n == 0) {
    struct buf body = {0};
    jw_int(&body, "bytes", (long long)s->bytes);
    send_event(s->c, s->id, "done", &body);
    buf_free(&body);
    session_free(s);
    return 1;
  }
  s->credit -= (uint64_t)n;
  s->bytes += (uint64_t)n;
  send_frame(s->c, F_STDOUT, s->id, chunk, (size_t)n);
  return 1;
}
