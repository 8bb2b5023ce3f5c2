/*
 * mvm-agent entry: `serve` (default) answers the host on a virtio-serial port (QEMU), a vsock
 * listener (Firecracker), a unix listener (tests) or stdio; `busy on|off NAME` lets a
 * workload hold off a sleep; `workload` runs the image's process as a service (workload.c);
 * `version` prints the version. One poll() loop does everything,
 * so a hung command can never hold up status or sleep-prep.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent.h"

struct options {
  const char *port_name; /* virtio-serial port to serve, or NULL */
  int vsock_port;        /* 0: none */
  const char *unix_path;
  int stdio;
  /* Tests: a stand-in for a port, read from one FIFO and written to another (see serve). */
  const char *fifo_in, *fifo_out;
};

static struct {
  int sigfd;
  int listeners[2];
  int port_wait; /* still looking for the virtio-serial port */
  int64_t port_deadline;
  const char *port_name;
} loop = {.sigfd = -1, .listeners = {-1, -1}};

static int find_port(const char *name, char *dev, size_t cap) {
  DIR *d = opendir("/sys/class/virtio-ports");
  int found = 0;
  for (struct dirent *e = d ? readdir(d) : NULL; e && !found; e = readdir(d)) {
    char path[512], text[128];
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
    if (read_small(path, text, sizeof text) <= 0 || strcmp(text, name) != 0) continue;
    snprintf(dev, cap, "/dev/%s", e->d_name);
    found = access(dev, R_OK | W_OK) == 0;
  }
  if (d) closedir(d);
  return found;
}

static void try_port(void) {
  char dev[300];
  if (!find_port(loop.port_name, dev, sizeof dev)) {
    if (now_ms() > loop.port_deadline) {
      logmsg("no virtio-serial port named %s", loop.port_name);
      loop.port_wait = 0;
    }
    return;
  }
  loop.port_wait = 0;
  /* One opener per port: one fd carries both directions. */
  int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 || !conn_add(fd, fd, CONN_PORT)) {
    logmsg("cannot open %s: %s", dev, strerror(errno));
    return;
  }
  fprintf(stderr, "MVM-AGENT-READY port=%s agent=%s/%s\n", dev, AGENT_NAME, AGENT_VERSION);
}

static int listen_vsock(int port) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                             .svm_port = (unsigned)port};
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  fprintf(stderr, "MVM-AGENT-READY vsock=%d agent=%s/%s\n", port, AGENT_NAME, AGENT_VERSION);
  return fd;
}

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
    logmsg("cannot listen on %s: %s", path, strerror(errno));
    exit(1);
  }
  return fd;
}

static void on_accept(int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  if (!conn_add(fd, fd, CONN_SOCK)) {
    logmsg("too many host connections; refusing one");
    close(fd);
  }
}

static void reap(void) {
  struct signalfd_siginfo info;
  while (read(loop.sigfd, &info, sizeof info) == sizeof info) {
  }
  int status;
  pid_t pid;
  /* A subreaper: orphaned grandchildren land here too and are reaped without a word. */
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) session_reaped(pid, status);
}

enum { P_SIG, P_LISTEN, P_CONN, P_SESSION };
#define MAX_POLL (4 + MAX_CONNS + 3 * MAX_SESSIONS)
static struct pollfd pfd[MAX_POLL];
static struct {
  int kind;
  void *ptr;
} what[MAX_POLL];
static int npoll;

static void watch(int fd, short events, int kind, void *ptr) {
  pfd[npoll] = (struct pollfd){.fd = fd, .events = events};
  what[npoll].kind = kind;
  what[npoll].ptr = ptr;
  npoll++;
}

/* Poll timeout in ms: the nearest timer, or -1. */
static int build_pollset(void) {
  int64_t next = 0, t;
  npoll = 0;
  watch(loop.sigfd, POLLIN, P_SIG, NULL);
  for (int i = 0; i < 2; i++)
    if (loop.listeners[i] >= 0) watch(loop.listeners[i], POLLIN, P_LISTEN, &loop.listeners[i]);
  for (int i = 0; i < MAX_CONNS; i++) {
    struct conn *c = &conns[i];
    if (!c->used) continue;
    if (c->kind == CONN_PORT && !c->connected) {
      if (!next || c->next_probe < next) next = c->next_probe;
      continue;
    }
    watch(c->fd, POLLIN, P_CONN, c);
    if (c->out.len) watch(c->out_fd, POLLOUT, P_CONN, c);
    if ((t = conn_stall_deadline(c)) && (!next || t < next)) next = t;
  }
  int pump = 0;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    struct session *s = &sessions[i];
    if (!s->used || !s->c) continue;
    int room = s->credit > 0 && !conn_congested(s->c);
    if (s->kind == S_GET && room) pump = 1;
    if (s->kind != S_EXEC) continue;
    if (room && s->out_fd >= 0) watch(s->out_fd, POLLIN, P_SESSION, s);
    if (room && s->err_fd >= 0) watch(s->err_fd, POLLIN, P_SESSION, s);
    if (s->in_fd >= 0 && s->stdin_q.len) watch(s->in_fd, POLLOUT, P_SESSION, s);
  }
  if (pump) return 0;
  if (loop.port_wait) next = next && next < now_ms() + 100 ? next : now_ms() + 100;
  if ((t = session_next_deadline()) && (!next || t < next)) next = t;
  if ((t = drain_next_deadline()) && (!next || t < next)) next = t;
  if (!next) return -1;
  t = next - now_ms();
  return t < 0 ? 0 : (int)(t > 60000 ? 60000 : t);
}

static void dispatch(int i) {
  void *ptr = what[i].ptr;
  if (!pfd[i].revents) return;
  if (what[i].kind == P_SIG) {
    reap();
  } else if (what[i].kind == P_LISTEN) {
    on_accept(*(int *)ptr);
  } else if (what[i].kind == P_CONN) {
    struct conn *c = ptr;
    if (c->used && (pfd[i].events & POLLOUT)) conn_flush(c);
    else if (c->used) conn_on_readable(c);
  } else {
    struct session *s = ptr;
    if (s->used && (pfd[i].events & POLLOUT)) session_write_stdin(s);
    else if (s->used) session_on_output(s, pfd[i].fd);
  }
}

static void probe_ports(void) {
  int64_t now = now_ms();
  for (int i = 0; i < MAX_CONNS; i++) {
    struct conn *c = &conns[i];
    if (c->used) conn_check_stall(c, now);
    if (c->used && c->kind == CONN_PORT && !c->connected && now >= c->next_probe)
      conn_on_readable(c);
  }
}

static int stdio_gone(const struct options *o) {
  if (!o->stdio) return 0;
  for (int i = 0; i < MAX_CONNS; i++)
    if (conns[i].used && conns[i].kind == CONN_STDIO) return 0;
  return 1;
}

/* The workload service starts after the agent: it waits for this file. */
static void mark_ready(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/agent.ready", state_dir());
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

static void serve(const struct options *o) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  loop.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  char busy[512];
  snprintf(busy, sizeof busy, "%s/busy.d", state_dir());
  mkdir(state_dir(), 0755);
  if (mkdir(busy, 01777) == 0) chmod(busy, 01777);
  if (o->vsock_port) loop.listeners[0] = listen_vsock(o->vsock_port);
  if (o->unix_path) loop.listeners[1] = listen_unix(o->unix_path);
  if (o->stdio) conn_add(0, 1, CONN_STDIO);
  if (o->fifo_in) {
    /*
     * A FIFO reads as a virtio-serial port does: EOF while no host (writer) is there, EAGAIN
     * while one is there and silent; a full output FIFO takes no writes, as a port with no
     * host. Opened read-write, the output FIFO never fails for want of a reader.
     */
    int in = open(o->fifo_in, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int out = open(o->fifo_out, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (in < 0 || out < 0 || !conn_add(in, out, CONN_PORT)) {
      logmsg("cannot open the FIFOs %s, %s: %s", o->fifo_in, o->fifo_out, strerror(errno));
      exit(1);
    }
  }
  mark_ready();
  if (o->port_name) {
    loop.port_name = o->port_name;
    loop.port_wait = 1;
    loop.port_deadline = now_ms() + 30000;
    try_port();
  }
  for (;;) {
    int timeout = build_pollset();
    int n = poll(pfd, (nfds_t)npoll, timeout);
    if (n < 0 && errno != EINTR) {
      logmsg("poll: %s", strerror(errno));
      exit(1);
    }
    for (int i = 0; n > 0 && i < npoll; i++) dispatch(i);
    if (loop.port_wait) try_port();
    probe_ports();
    session_timers();
    for (int i = 0; i < MAX_SESSIONS; i++)
      if (sessions[i].used && sessions[i].kind == S_GET && sessions[i].c) file_get_pump(&sessions[i]);
    drain_tick();
    if (stdio_gone(o)) exit(0);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: mvm-agent [serve] [--port NAME] [--vsock PORT] [--unix PATH] [--stdio]\n"
          "                 [--fifo IN OUT]   (tests: a port stand-in)\n"
          "       mvm-agent busy on|off NAME\n"
          "       mvm-agent workload   (the image's process from the run spec, restarted)\n"
          "       mvm-agent gateway FILE   (checks gateway.json, prints its routes)\n"
          "       mvm-agent worker exec|broker ...   (also as mvm-worker: docs/openclaw.md)\n"
          "       mvm-agent version\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *self = strrchr(argv[0], '/');
  if (strcmp(self ? self + 1 : argv[0], "mvm-worker") == 0) worker_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "worker") == 0) worker_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "busy") == 0) busy_cli(argc, argv);
  if (argc > 1 && strcmp(argv[1], "workload") == 0) workload_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "gateway") == 0) gateway_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "version") == 0) {
    printf("%s %s (protocol %d)\n", AGENT_NAME, AGENT_VERSION, PROTO_VERSION);
    return 0;
  }
  struct options o = {0};
  int i = argc > 1 && strcmp(argv[1], "serve") == 0 ? 2 : 1;
  int any = 0;
  for (; i < argc; i++, any = 1) {
    if (strcmp(argv[i], "--stdio") == 0) o.stdio = 1;
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) o.port_name = argv[++i];
    else if (strcmp(argv[i], "--vsock") == 0 && i + 1 < argc) o.vsock_port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--unix") == 0 && i + 1 < argc) o.unix_path = argv[++i];
    else if (strcmp(argv[i], "--fifo") == 0 && i + 2 < argc) {
      o.fifo_in = argv[++i];
      o.fifo_out = argv[++i];
    }
    else usage();
  }
  if (!any) {
    o.port_name = "mvm.agent";
    o.vsock_port = 1024;
  }
  serve(&o);
  return 0;
}
