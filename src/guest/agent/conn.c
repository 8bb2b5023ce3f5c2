/*
 * Host connections. Each starts in line mode: NDJSON requests of protocol version 1 are
 * answered as lines (older hosts keep working), and a `hello` line switches the connection to
 * binary frames `[magic][type][stream u32][length u32][payload]`. A bad frame header sends an
 * error and drops back to line mode, where everything up to the next `{` is skipped until a
 * host says hello again; so does half a frame that stalls (see conn_check_stall).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

struct conn conns[MAX_CONNS];

/* Output queued beyond this stops sessions reading more (credits normally bound it first). */
#define OUT_HIGH_WATER (2 * 1024 * 1024)

struct conn *conn_add(int fd, int out_fd, enum conn_kind kind) {
  for (int i = 0; i < MAX_CONNS; i++) {
    struct conn *c = &conns[i];
    if (c->used) continue;
    unsigned gen = c->gen + 1;
    memset(c, 0, sizeof *c);
    c->used = 1;
    c->fd = fd;
    c->out_fd = out_fd;
    c->kind = kind;
    c->mode = MODE_LINE;
    c->connected = kind != CONN_PORT;
    c->next_probe = now_ms(); /* a port: look for a host at once (0 would mean "no timer") */
    c->gen = gen;
    set_nonblock(fd);
    if (out_fd != fd) set_nonblock(out_fd);
    return c;
  }
  return NULL;
}

void conn_reset(struct conn *c, const char *why) {
  if (c->mode == MODE_FRAMES) logmsg("host connection reset: %s", why);
  session_detach_conn(c);
  c->gen++;
  c->mode = MODE_LINE;
  buf_free(&c->out);
}

void conn_close(struct conn *c) {
  conn_reset(c, "closed");
  buf_free(&c->in);
  close(c->fd);
  if (c->out_fd != c->fd) close(c->out_fd);
  c->used = 0;
}

int conn_congested(const struct conn *c) { return c->out.len > OUT_HIGH_WATER; }

void conn_flush(struct conn *c) {
  while (c->out.len) {
    ssize_t n = write(c->out_fd, c->out.p, c->out.len);
    if (n > 0) {
      buf_drop(&c->out, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    /* The host is gone: a port waits for the next one, a socket is closed. */
    if (c->kind == CONN_PORT) {
      c->connected = 0;
      c->next_probe = now_ms() + 50;
      conn_reset(c, "write failed");
    } else {
      c->out.len = 0;
    }
    return;
  }
}

static void queue(struct conn *c, const void *data, size_t n) {
  buf_add(&c->out, data, n);
}

void send_frame(struct conn *c, int type, uint32_t stream, const void *data, size_t n) {
  unsigned char hdr[FRAME_HDR];
  uint32_t s = htonl(stream), l = htonl((uint32_t)n);
  hdr[0] = FRAME_MAGIC;
  hdr[1] = (unsigned char)type;
  memcpy(hdr + 2, &s, 4);
  memcpy(hdr + 6, &l, 4);
  queue(c, hdr, sizeof hdr);
  queue(c, data, n);
  conn_flush(c);
}

void send_credit(struct conn *c, uint32_t stream, uint32_t bytes) {
  uint32_t be = htonl(bytes);
  send_frame(c, F_CREDIT, stream, &be, 4);
}

int reply_live(const struct reply_to *r) { return r->c && r->c->used && r->c->gen == r->gen; }

/* `{"ok":...,<body>}` as a frame, or with the request's id as an NDJSON line. */
static void reply(const struct reply_to *r, const char *head, const struct buf *body) {
  if (!reply_live(r)) return;
  struct buf msg = {0};
  buf_addc(&msg, '{');
  if (r->line) buf_printf(&msg, "\"id\":%u,", r->id);
  buf_adds(&msg, head);
  if (r->rid[0]) buf_printf(&msg, ",\"rid\":\"%s\"", r->rid); /* checked: no escaping needed */
  if (body && body->len) {
    buf_addc(&msg, ',');
    buf_add(&msg, body->p, body->len);
    if (msg.p[msg.len - 1] == ',') msg.len--;
  }
  buf_addc(&msg, '}');
  if (r->line) {
    buf_addc(&msg, '\n');
    queue(r->c, msg.p, msg.len);
    conn_flush(r->c);
  } else {
    send_frame(r->c, F_RESP, r->id, msg.p, msg.len);
  }
  buf_free(&msg);
}

void reply_ok(const struct reply_to *r, const struct buf *body) { reply(r, "\"ok\":true", body); }

void reply_err(const struct reply_to *r, const char *code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  struct buf body = {0};
  jw_str(&body, "error", text);
  jw_str(&body, "code", code);
  reply(r, "\"ok\":false", &body);
  buf_free(&body);
}

void send_event(struct conn *c, uint32_t stream, const char *ev, const struct buf *body) {
  struct buf msg = {0};
  buf_adds(&msg, "{\"ev\":");
  json_esc(&msg, ev, strlen(ev));
  if (body && body->len) {
    buf_addc(&msg, ',');
    buf_add(&msg, body->p, body->len);
    if (msg.p[msg.len - 1] == ',') msg.len--;
  }
  buf_addc(&msg, '}');
  send_frame(c, F_EVENT, stream, msg.p, msg.len);
  buf_free(&msg);
}

/* A JSON request line; junk before it on the same line (stale frame bytes) is skipped. */
static void on_line(struct conn *c, const char *line, size_t n) {
  struct jv *req = NULL;
  const char *start = line;
  while (start && !(req = json_parse(start, n - (size_t)(start - line)))) {
    start = memchr(start + 1, '{', n - (size_t)(start + 1 - line));
  }
  if (!req || req->type != J_OBJ) {
    json_free(req); /* resynchronising: skipped without an answer */
    return;
  }
  double id = 0;
  json_num(req, "id", &id);
  struct reply_to r = {c, c->gen, id >= 0 && id < 4294967296.0 ? (uint32_t)id : 0, 1, ""};
  const char *op = json_str(req, "op");
  if (op && strcmp(op, "hello") == 0) {
    /* A new host: what the previous one started ends, its queued output is dropped. */
    conn_reset(c, "hello");
    r.gen = c->gen;
    c->mode = MODE_FRAMES;
  }
  handle_request(&r, req);
  json_free(req);
}

static size_t take_lines(struct conn *c) {
  size_t off = 0;
  while (off < c->in.len && c->mode == MODE_LINE) {
    char *start = memchr(c->in.p + off, '{', c->in.len - off);
    if (!start) return c->in.len;
    char *nl = memchr(start, '\n', c->in.len - (size_t)(start - c->in.p));
    if (!nl) {
      size_t pending = c->in.len - (size_t)(start - c->in.p);
      return pending > MAX_LINE ? c->in.len : (size_t)(start - c->in.p);
    }
    on_line(c, start, (size_t)(nl - start));
    off = (size_t)(nl - c->in.p) + 1;
  }
  return off;
}

static void on_frame(struct conn *c, int type, uint32_t stream, const char *p, size_t n) {
  struct reply_to r = {c, c->gen, stream, 0, ""};
  if (type == F_REQ) {
    struct jv *req = json_parse(p, n);
    if (!req || req->type != J_OBJ) reply_err(&r, "bad_request", "request is not a JSON object");
    else handle_request(&r, req);
    json_free(req);
    return;
  }
  if (type != F_STDIN && type != F_EOF && type != F_CREDIT) {
    reply_err(&r, "bad_frame", "unknown frame type %d", type);
    return;
  }
  /* Data for a session that just ended is a normal race: dropped without an answer. */
  struct session *s = session_find(c, stream);
  if (!s) return;
  if (type == F_STDIN) session_on_stdin(s, p, n);
  else if (type == F_EOF) session_on_eof(s);
  else if (n == 4) session_on_credit(s, ntohl(*(const uint32_t *)(const void *)p));
}

static size_t take_frames(struct conn *c) {
  size_t off = 0;
  while (c->mode == MODE_FRAMES && c->in.len - off >= FRAME_HDR) {
    const unsigned char *h = (const unsigned char *)c->in.p + off;
    uint32_t stream, len;
    memcpy(&stream, h + 2, 4);
    memcpy(&len, h + 6, 4);
    stream = ntohl(stream);
    len = ntohl(len);
    if (h[0] != FRAME_MAGIC || len > MAX_IN_PAYLOAD) {
      struct reply_to r = {c, c->gen, 0, 0, ""};
      reply_err(&r, "bad_frame", "bad frame header (magic 0x%02x, length %u): send hello again",
                h[0], len);
      c->mode = MODE_LINE;
      return off;
    }
    if (c->in.len - off < FRAME_HDR + len) break;
    unsigned gen = c->gen;
    on_frame(c, h[1], stream, (const char *)h + FRAME_HDR, len);
    if (c->gen != gen) return c->in.len; /* reset while handling: the rest is stale */
    off += FRAME_HDR + len;
  }
  return off;
}

static void parse_input(struct conn *c) {
  for (;;) {
    enum conn_mode mode = c->mode;
    size_t used = mode == MODE_LINE ? take_lines(c) : take_frames(c);
    buf_drop(&c->in, used);
    if (c->mode == mode || c->in.len == 0) return;
  }
}

/*
 * A port reads EOF while the guest believes no host is connected. That belief can lag behind
 * the host: after a restore QEMU tells the guest "host closed" (the snapshot's host was
 * connected, the new one not yet), then "host open" once the new host connects, and the
 * guest may take the host's first bytes before it takes that "open". The agent then read the
 * hello, could not write its answer (a port with no host takes no writes), read EOF, and
 * dropped the answer with the "gone" host's state: the host's hello went unanswered (about
 * one wake in 40 under TCG). So an EOF only marks the host as gone: its sessions and unsent
 * output are kept for HOST_GONE_MS, and ended only if the port still reads EOF then. A host
 * that is back (data, or a read that would block) clears the mark; a new host's hello ends
 * the previous host's sessions anyway, and the host skips what precedes its hello's answer.
 */
static void port_eof(struct conn *c) {
  int64_t now = now_ms();
  if (c->connected && !c->gone_since) {
    c->gone_since = now;
    if (c->mode == MODE_FRAMES) logmsg("host side closed: its sessions kept %d ms", HOST_GONE_MS);
  }
  c->connected = 0;
  c->next_probe = now + 50;
  if (c->gone_since && now - c->gone_since >= HOST_GONE_MS) {
    c->gone_since = 0;
    conn_reset(c, "host disconnected");
    buf_free(&c->in);
  }
}

static void port_back(struct conn *c) {
  if (c->gone_since && c->mode == MODE_FRAMES)
    logmsg("host side open again after %lld ms", (long long)(now_ms() - c->gone_since));
  c->gone_since = 0;
  c->connected = 1;
}

void conn_on_readable(struct conn *c) {
  char chunk[64 * 1024];
  for (int rounds = 0; rounds < 16; rounds++) {
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n > 0) {
      port_back(c);
      c->last_input = now_ms();
      buf_add(&c->in, chunk, (size_t)n);
      parse_input(c);
      if (!c->used) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      port_back(c);
      return;
    }
    /* EOF: a virtio-serial port reads EOF while no host is connected; wait for the next. */
    if (c->kind == CONN_PORT) port_eof(c);
    else conn_close(c);
    return;
  }
}

/*
 * Half a frame that stops arriving is the tail of a host that went away unnoticed (a
 * virtio-serial host can reconnect between two reads): the next host's hello is then inside
 * it. Going back to line mode over the same bytes finds that hello.
 */
void conn_check_stall(struct conn *c, int64_t now) {
  if (c->mode != MODE_FRAMES || c->in.len == 0 || now - c->last_input < FRAME_STALL_MS) return;
  logmsg("half a frame stalled for %d ms: back to lines to find a new hello", FRAME_STALL_MS);
  c->mode = MODE_LINE;
  parse_input(c);
}

int64_t conn_stall_deadline(const struct conn *c) {
  return c->mode == MODE_FRAMES && c->in.len ? c->last_input + FRAME_STALL_MS : 0;
}
