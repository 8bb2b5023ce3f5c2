/*
 * mvm-worker: a command in a gateway guest runs in a worker of the same tenant (docs/openclaw.md,
 * "Worker exec"). Two halves of one binary (mvm-agent, called by the name mvm-worker):
 *
 *   mvm-worker broker   run by the HOST AGENT as an exec session (never by the image): listens on
 *                       /run/mvm/worker.sock and multiplexes every local client onto its own
 *                       stdio, which the host agent relays to the coordinator with its node
 *                       credential. The guest holds no credential and names no tenant: the host
 *                       knows which instance it runs this in.
 *   mvm-worker exec [--worker KEY] [--instance POOL/ID] [--cwd DIR] -- CMD...
 *                       connects to the broker, streams its stdin to CMD and CMD's stdout and
 *                       stderr back, and exits with CMD's status (125: refused or unreachable).
 *
 * Frames on both legs: [type u8][id u32 BE][len u32 BE][payload]. The broker rewrites the id of
 * a client's frames to that client's; the host's frames go to the client of their id.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

#define WX_HDR 9
#define WX_MAX_PAYLOAD (1024 * 1024)
#define WX_MAX_CLIENTS 32
#define WX_SOCKET "/run/mvm/worker.sock"

enum wx_type {
  WX_OPEN = 1,   /* client -> host: JSON request {argv, worker?, instance?, cwd?} */
  WX_STDIN = 2,  /* client -> host */
  WX_EOF = 3,    /* client -> host: no more stdin */
  WX_STDOUT = 4, /* host -> client */
  WX_STDERR = 5, /* host -> client */
  WX_EXIT = 6,   /* host -> client: the exit status, decimal text */
  WX_ERROR = 7,  /* host -> client: why the command did not run, text */
  WX_CLOSE = 8,  /* broker -> host: the client went away */
};

static int wx_write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int wx_send(int fd, int type, uint32_t id, const void *data, size_t n) {
  unsigned char h[WX_HDR];
  h[0] = (unsigned char)type;
  put_u32(h + 1, id);
  put_u32(h + 5, (uint32_t)n);
  if (wx_write_all(fd, h, WX_HDR) < 0) return -1;
  return n ? wx_write_all(fd, data, n) : 0;
}

/* A whole frame at the front of b: its size (header included), 0 if not yet, -1 if too big. */
static long whole_frame(const struct buf *b) {
  if (b->len < WX_HDR) return 0;
  uint32_t n = get_u32((const unsigned char *)b->p + 5);
  if (n > WX_MAX_PAYLOAD) return -1;
  return b->len >= WX_HDR + (size_t)n ? (long)(WX_HDR + n) : 0;
}

/* Reads what fd has into b: bytes read, 0 at EOF, -1 on error (EAGAIN counts as 1). */
static ssize_t wx_fill(int fd, struct buf *b) {
  char tmp[65536];
  ssize_t r = read(fd, tmp, sizeof tmp);
  if (r < 0) return errno == EAGAIN || errno == EINTR ? 1 : -1;
  if (r > 0) buf_add(b, tmp, (size_t)r);
  return r;
}

/* ---- broker ---- */

/* Output a client may lag behind by before it is dropped (it stalls no other client). */
#define WX_MAX_CLIENT_OUT (8 * 1024 * 1024)

struct wx_client {
  int fd;
  uint32_t id;
  struct buf in, out;
  int closing; /* its exit or error is queued: closed once written */
};

static struct wx_client clients[WX_MAX_CLIENTS];
static uint32_t next_id = 1;

static void drop_client(struct wx_client *c, int tell_host) {
  if (tell_host) wx_send(1, WX_CLOSE, c->id, NULL, 0);
  close_fd(&c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  c->closing = 0;
  c->id = 0;
}

static int listen_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, path);
  mkdir("/run/mvm", 0755);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) return -1;
  /* Any process of the guest may ask: the guest is one tenant's, the host decides the rest. */
  chmod(path, 0666);
  return fd;
}

static void accept_client(int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < WX_MAX_CLIENTS; i++) {
    if (clients[i].id != 0) continue;
    set_nonblock(fd);
    clients[i] = (struct wx_client){.fd = fd, .id = next_id++};
    return;
  }
  const char *busy = "too many worker commands at once in this guest";
  wx_send(fd, WX_ERROR, 0, busy, strlen(busy));
  close(fd);
}

/* A client's frames go to the host under its id; a bad frame or EOF ends it. */
static void from_client(struct wx_client *c) {
  ssize_t r = wx_fill(c->fd, &c->in);
  if (r <= 0) return drop_client(c, 1);
  long n;
  while ((n = whole_frame(&c->in)) > 0) {
    int type = (unsigned char)c->in.p[0];
    if (type != WX_OPEN && type != WX_STDIN && type != WX_EOF) return drop_client(c, 1);
    if (wx_send(1, type, c->id, c->in.p + WX_HDR, (size_t)n - WX_HDR) < 0) exit(1);
    buf_drop(&c->in, (size_t)n);
  }
  if (n < 0) drop_client(c, 1);
}

static struct wx_client *client_of(uint32_t id) {
  for (int i = 0; i < WX_MAX_CLIENTS; i++)
    if (clients[i].id == id) return &clients[i];
  return NULL;
}

/* Writes what the client takes now; closes it once its exit or error is out. */
static void flush_client(struct wx_client *c) {
  while (c->out.len > 0) {
    ssize_t w = write(c->fd, c->out.p, c->out.len);
    if (w > 0) buf_drop(&c->out, (size_t)w);
    else if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
    else return drop_client(c, 1);
  }
  if (c->closing) drop_client(c, 0);
}

/* The host's frames are queued for the client of their id (never a blocking write). */
static void from_host(struct buf *in) {
  long n;
  while ((n = whole_frame(in)) > 0) {
    const unsigned char *p = (const unsigned char *)in->p;
    struct wx_client *c = client_of(get_u32(p + 1));
    if (c && !c->closing) {
      buf_add(&c->out, p, (size_t)n);
      if (p[0] == WX_EXIT || p[0] == WX_ERROR) c->closing = 1;
      if (c->out.len > WX_MAX_CLIENT_OUT) drop_client(c, 1);
      else flush_client(c);
    }
    buf_drop(in, (size_t)n);
  }
  if (n < 0) exit(1);
}

static int broker_main(const char *path) {
  signal(SIGPIPE, SIG_IGN);
  int lfd = listen_socket(path);
  if (lfd < 0) {
    fprintf(stderr, "mvm-worker: cannot listen on %s: %s\n", path, strerror(errno));
    return 1;
  }
  struct buf host = {0};
  for (;;) {
    struct pollfd fds[WX_MAX_CLIENTS + 2];
    struct wx_client *of[WX_MAX_CLIENTS + 2] = {0};
    int nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = 0, .events = POLLIN};
    fds[nfds++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < WX_MAX_CLIENTS; i++) {
      if (clients[i].id == 0) continue;
      of[nfds] = &clients[i];
      short events = POLLIN | (clients[i].out.len > 0 ? POLLOUT : 0);
      fds[nfds++] = (struct pollfd){.fd = clients[i].fd, .events = events};
    }
    if (poll(fds, (nfds_t)nfds, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents) {
      if (wx_fill(0, &host) <= 0) break; /* the host ended the session */
      from_host(&host);
    }
    if (fds[1].revents & POLLIN) accept_client(lfd);
    for (int i = 2; i < nfds; i++) {
      if ((fds[i].revents & POLLOUT) && of[i]->id != 0) flush_client(of[i]);
      if ((fds[i].revents & ~POLLOUT) && of[i]->id != 0) from_client(of[i]);
    }
  }
  unlink(path);
  return 0;
}

/* ---- exec (the client) ---- */

static void exec_usage(void) {
  fprintf(stderr, "usage: mvm-worker exec [--worker KEY] [--instance POOL/ID] [--cwd DIR] -- "
                  "CMD [ARG...]\n"
                  "       mvm-worker broker [--socket PATH]   (run by the host agent)\n");
  exit(2);
}

static int connect_broker(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, path);
  return connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ? -1 : fd;
}

static void request_json(struct buf *b, int argc, char **argv, const char *worker,
                         const char *instance, const char *cwd) {
  buf_adds(b, "{\"argv\":[");
  for (int i = 0; i < argc; i++) {
    if (i) buf_addc(b, ',');
    json_esc(b, argv[i], strlen(argv[i]));
  }
  buf_addc(b, ']');
  const char *keys[] = {"worker", "instance", "cwd"};
  const char *vals[] = {worker, instance, cwd};
  for (int i = 0; i < 3; i++) {
    if (!vals[i]) continue;
    buf_printf(b, ",\"%s\":", keys[i]);
    json_esc(b, vals[i], strlen(vals[i]));
  }
  buf_addc(b, '}');
}

/* One frame from the host: output written out, the exit status or -1 to go on. */
static int to_local(const unsigned char *p, size_t n) {
  const char *data = (const char *)p + WX_HDR;
  size_t len = n - WX_HDR;
  if (p[0] == WX_STDOUT) wx_write_all(1, data, len);
  else if (p[0] == WX_STDERR) wx_write_all(2, data, len);
  else if (p[0] == WX_EXIT) return atoi(strndup(data, len));
  else if (p[0] == WX_ERROR) {
    fprintf(stderr, "mvm-worker: %.*s\n", (int)len, data);
    return 125;
  }
  return -1;
}

static int exec_main(int argc, char **argv, const char *path) {
  const char *worker = NULL, *instance = NULL, *cwd = NULL;
  int i = 2;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--worker") == 0 && i + 1 < argc) worker = argv[++i];
    else if (strcmp(argv[i], "--instance") == 0 && i + 1 < argc) instance = argv[++i];
    else if (strcmp(argv[i], "--cwd") == 0 && i + 1 < argc) cwd = argv[++i];
    else exec_usage();
  }
  if (i + 1 >= argc) exec_usage();
  signal(SIGPIPE, SIG_IGN);
  int fd = connect_broker(path);
  if (fd < 0) {
    fprintf(stderr, "mvm-worker: no broker at %s (%s): is this a gateway guest of an agent "
                    "with MVM_WORKER_EXEC=on?\n", path, strerror(errno));
    return 125;
  }
  struct buf req = {0}, in = {0};
  request_json(&req, argc - i - 1, argv + i + 1, worker, instance, cwd);
  if (wx_send(fd, WX_OPEN, 0, req.p, req.len) < 0) return 125;
  int stdin_open = 1;
  for (;;) {
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = stdin_open ? 0 : -1, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 125;
    }
    if (fds[1].revents) {
      char tmp[32768];
      ssize_t r = read(0, tmp, sizeof tmp);
      if (r > 0) wx_send(fd, WX_STDIN, 0, tmp, (size_t)r);
      else if (r == 0 || errno != EINTR) {
        stdin_open = 0;
        wx_send(fd, WX_EOF, 0, NULL, 0);
      }
    }
    if (!fds[0].revents) continue;
    if (wx_fill(fd, &in) <= 0) {
      fprintf(stderr, "mvm-worker: the broker went away before the command ended\n");
      return 125;
    }
    long n;
    while ((n = whole_frame(&in)) > 0) {
      int status = to_local((const unsigned char *)in.p, (size_t)n);
      if (status >= 0) return status;
      buf_drop(&in, (size_t)n);
    }
    if (n < 0) return 125;
  }
}

void worker_main(int argc, char **argv) {
  const char *path = getenv("MVM_WORKER_SOCKET");
  if (!path || !*path) path = WX_SOCKET;
  if (argc > 1 && strcmp(argv[1], "broker") == 0) {
    if (argc == 4 && strcmp(argv[2], "--socket") == 0) path = argv[3];
    else if (argc != 2) exec_usage();
    exit(broker_main(path));
  }
  if (argc > 1 && strcmp(argv[1], "exec") == 0) exit(exec_main(argc, argv, path));
  exec_usage();
  exit(2);
}
