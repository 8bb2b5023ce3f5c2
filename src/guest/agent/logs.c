/*
 * The workload's log: its stdout and stderr, and the service's own `[mvm]` lines, in
 * <state>/workload.log, bounded: past WLOG_MAX the file becomes workload.log.1 (the one before
 * is dropped) and a new one starts. Every byte has a position in the whole stream
 * (workload.log.base holds the current file's first), so a reader pages and follows with
 * positions that survive a rotation, and learns what it missed. The `logs` op answers one
 * range, base64, small enough for one frame.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

/* 45000 bytes are 60000 in base64: the answer stays under MAX_OUT_PAYLOAD. */
#define MAX_READ 45000

static void log_path(char *out, size_t cap, const char *suffix) {
  snprintf(out, cap, "%s/workload.log%s", state_dir(), suffix);
}

static long long read_base(void) {
  char path[512], text[64];
  log_path(path, sizeof path, ".base");
  return read_small(path, text, sizeof text) > 0 ? atoll(text) : 0;
}

static void write_base(long long base) {
  char path[512], line[32];
  log_path(path, sizeof path, ".base");
  int n = snprintf(line, sizeof line, "%lld\n", base);
  write_atomic(path, line, (size_t)n);
}

void wlog_open(struct wlog *l) {
  char path[512];
  log_path(path, sizeof path, "");
  l->base = read_base();
  l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  struct stat st;
  l->size = l->fd >= 0 && fstat(l->fd, &st) == 0 ? st.st_size : 0;
}

static void rotate(struct wlog *l) {
  char path[512], old[512];
  log_path(path, sizeof path, "");
  log_path(old, sizeof old, ".1");
  /* The new base first: a reader that sees it before the rename reads an empty range. */
  write_base(l->base + l->size);
  rename(path, old);
  close_fd(&l->fd);
  l->base += l->size;
  l->size = 0;
  l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
}

void wlog_write(struct wlog *l, const char *data, size_t n) {
  if (l->size > 0 && l->size + (long long)n > WLOG_MAX) rotate(l);
  while (l->fd >= 0 && n > 0) {
    ssize_t w = write(l->fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* a full /run must not stop the workload */
    data += w;
    n -= (size_t)w;
    l->size += w;
  }
}

void wlog_printf(struct wlog *l, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  wlog_write(l, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static long long file_size(const char *suffix) {
  char path[512];
  struct stat st;
  log_path(path, sizeof path, suffix);
  return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Reads up to n bytes at `offset` of workload.log<suffix>; returns the count (0 on error). */
static size_t read_at(const char *suffix, long long offset, char *out, size_t n) {
  char path[512];
  log_path(path, sizeof path, suffix);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = pread(fd, out, n, offset);
  close(fd);
  return got > 0 ? (size_t)got : 0;
}

static void base64(struct buf *b, const unsigned char *p, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  buf_addc(b, '"');
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    char quad[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=',
                    i + 2 < n ? abc[v & 63] : '='};
    buf_add(b, quad, 4);
  }
  buf_adds(b, "\",");
}

/*
 * {op:"logs", from?: position (negative: from the end; default -max), max?: bytes}. Answers
 * first (oldest position still kept), end, start (where the data begins: `from` clamped to
 * what is kept) and data_b64.
 */
void logs_op(const struct reply_to *r, const struct jv *req) {
  double from_d = 0, max_d = MAX_READ;
  int has_from = json_num(req, "from", &from_d);
  json_num(req, "max", &max_d);
  size_t max = max_d >= 1 && max_d < MAX_READ ? (size_t)max_d : MAX_READ;
  char *data = malloc(MAX_READ);
  long long first = 0, end = 0, start = 0;
  size_t got = 0;
  for (int tries = 0; data && tries < 3; tries++) {
    long long base = read_base(), old = file_size(".1"), cur = file_size("");
    first = base - old;
    end = base + cur;
    long long from = has_from ? (long long)from_d : -(long long)max;
    if (from < 0) from += end;
    start = from < first ? first : from > end ? end : from;
    long long want = end - start < (long long)max ? end - start : (long long)max;
    got = 0;
    if (start < base) got = read_at(".1", start - first, data, (size_t)(want < base - start ? want : base - start));
    if (start + (long long)got >= base && (long long)got < want)
      got += read_at("", start + (long long)got - base, data + got, (size_t)(want - (long long)got));
    if (read_base() == base) break; /* no rotation in between */
  }
  struct buf b = {0};
  jw_int(&b, "first", first);
  jw_int(&b, "end", end);
  jw_int(&b, "start", start);
  buf_adds(&b, "\"data_b64\":");
  base64(&b, (const unsigned char *)(data ? data : ""), got);
  reply_ok(r, &b);
  buf_free(&b);
  free(data);
}
