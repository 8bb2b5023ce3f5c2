/*
 * mvm-agent: the guest agent, version 2 (protocol in docs/guest-protocol.md).
 * One single-threaded poll() loop serves every host connection (virtio-serial port, vsock or
 * unix listeners, stdio) and every session (exec, pty, file put/get). No third-party code:
 * glibc only, linked statically so it runs in any guest, with or without a libc of its own.
 */
#ifndef GUEST_AGENT_H
#define GUEST_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_NAME "mvm-agent"
#define AGENT_VERSION "2.4.0"
#define PROTO_VERSION 2

#define FRAME_MAGIC 0xB7
#define FRAME_HDR 10
/* Largest payload the host may send. */
#define MAX_IN_PAYLOAD (32 * 1024)
/* Largest payload the agent sends. */
#define MAX_OUT_PAYLOAD (64 * 1024)
#define MAX_LINE (64 * 1024)

enum frame_type {
  F_REQ = 1,    /* host -> guest: JSON request; stream = request or session id */
  F_RESP = 2,   /* guest -> host: JSON answer to a request */
  F_EVENT = 3,  /* guest -> host: JSON session event (exit, done, error) */
  F_STDIN = 4,  /* host -> guest: bytes for a session */
  F_EOF = 5,    /* host -> guest: no more STDIN for the session */
  F_STDOUT = 6, /* guest -> host: session output (stdout, pty, file content) */
  F_STDERR = 7, /* guest -> host: session stderr */
  F_CREDIT = 8, /* both: u32 BE more bytes the peer may send on the stream */
};

/* ---- util.c ---- */
struct buf {
  char *p;
  size_t len, cap;
};
void buf_add(struct buf *b, const void *data, size_t n);
void buf_addc(struct buf *b, char c);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_drop(struct buf *b, size_t n); /* removes n bytes from the front */
void buf_free(struct buf *b);
int64_t now_ms(void);
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int set_nonblock(int fd);
int read_small(const char *path, char *out, size_t cap); /* first line, trimmed; -1 if none */
/* Writes n bytes to path.tmp and renames it over path: whole or not at all; -1 on failure. */
int write_atomic(const char *path, const char *data, size_t n);
const char *state_dir(void);
void close_fd(int *fd); /* closes and sets -1; -1 is left alone */

/* ---- json.c ---- */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
  enum jtype type;
  double num;
  int boolean;
  char *str; /* J_STR value; NUL-terminated (may hold NULs before len) */
  size_t len;
  char *key; /* member name inside an object */
  struct jv *child, *next;
};
struct jv *json_parse(const char *text, size_t len);
void json_free(struct jv *v);
const struct jv *json_get(const struct jv *obj, const char *key);
const char *json_str(const struct jv *obj, const char *key); /* NULL unless a string */
int json_num(const struct jv *obj, const char *key, double *out);
int json_bool(const struct jv *obj, const char *key, int fallback);
void json_esc(struct buf *b, const char *s, size_t n); /* appends "..." */
/* Writers of `"key":value,` pieces into an object body (no braces, trailing comma). */
void jw_str(struct buf *b, const char *key, const char *val);
void jw_int(struct buf *b, const char *key, long long val);
void jw_num(struct buf *b, const char *key, double val);
void jw_bool(struct buf *b, const char *key, int val);
void jw_raw(struct buf *b, const char *key, const char *raw);

/* ---- conn.c ---- */
enum conn_kind { CONN_PORT, CONN_SOCK, CONN_STDIO };
enum conn_mode { MODE_LINE, MODE_FRAMES };
struct conn {
  int used;
  int fd, out_fd;
  enum conn_kind kind;
  enum conn_mode mode;
  int connected;      /* a port: the host end is open (we saw data or EAGAIN, not EOF) */
  int64_t next_probe; /* a disconnected port: when to try reading again */
  unsigned gen;       /* bumped on every reset: stale references become invalid */
  int64_t last_input; /* when bytes last arrived */
  int64_t gone_since; /* a port: when it read EOF after a host (0: not), see port_eof */
  struct buf in, out;
};
#define MAX_CONNS 16
extern struct conn conns[MAX_CONNS];
struct conn *conn_add(int fd, int out_fd, enum conn_kind kind);
void conn_on_readable(struct conn *c);
void conn_flush(struct conn *c);
void conn_reset(struct conn *c, const char *why); /* host went away: end its sessions */
void conn_close(struct conn *c);
int conn_congested(const struct conn *c);
#define FRAME_STALL_MS 2000
/* How long a port's host may look gone before its sessions end and its output is dropped. */
#define HOST_GONE_MS 2000
void conn_check_stall(struct conn *c, int64_t now);
int64_t conn_stall_deadline(const struct conn *c);
void send_frame(struct conn *c, int type, uint32_t stream, const void *data, size_t n);
void send_credit(struct conn *c, uint32_t stream, uint32_t bytes);

/* A place to answer a request: survives only while its connection keeps its generation. */
struct reply_to {
  struct conn *c;
  unsigned gen;
  uint32_t id;
  int line; /* answer as an NDJSON line (version-1 hosts, hello) instead of a frame */
  /* The host's request id (`rid`, 1-128 of A-Za-z0-9._:-), echoed in the answer; "" for none. */
  char rid[129];
};
int reply_live(const struct reply_to *r);
void reply_ok(const struct reply_to *r, const struct buf *body);
void reply_err(const struct reply_to *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void send_event(struct conn *c, uint32_t stream, const char *ev, const struct buf *body);

/* ---- ops.c ---- */
void handle_request(const struct reply_to *r, const struct jv *req);
int drive_remount(const char *label, const char *dir, const char *want); /* 1: mounted again */
void apply_gateway(void);

/* ---- identity.c ---- */
void identity_op(const struct reply_to *r, const struct jv *req);
void drain_tick(void);
int64_t drain_next_deadline(void);
int busy_flags(struct buf *names); /* count of workload busy flags; names as JSON strings */
void busy_cli(int argc, char **argv);

/* ---- session.c ---- */
enum session_kind { S_EXEC, S_PUT, S_GET };
struct session {
  int used;
  enum session_kind kind;
  struct conn *c;
  unsigned gen;
  uint32_t id;
  char label[64]; /* argv[0] or path, for busy reports */
  /* exec and pty */
  pid_t pid;
  int pty;
  int out_fd, err_fd, in_fd; /* -1 when closed; a pty has out_fd == in_fd (the master) */
  int exited, status;
  int64_t exit_at;     /* when the main process was reaped */
  int64_t drain_until; /* then output is read this long at most (while credit lasts) */
  int64_t deadline;    /* timeout: TERM the group */
  int64_t kill_grace;
  int timed_out;
  /* flow control */
  uint64_t credit;   /* output bytes we may still send */
  struct buf stdin_q;
  int stdin_eof;
  uint32_t stdin_done; /* bytes consumed since the last credit we granted */
  /* files */
  int file_fd;
  uint64_t bytes;
  char *path, *tmp;
};
#define MAX_SESSIONS 256
#define STDIN_WINDOW (256 * 1024)
extern struct session sessions[MAX_SESSIONS];
struct session *session_new(const struct reply_to *r, enum session_kind kind);
struct session *session_find(struct conn *c, uint32_t id);
void session_free(struct session *s);
int session_count_busy(struct buf *labels);
void exec_start(const struct reply_to *r, const struct jv *req);
void exec_signal(const struct reply_to *r, const struct jv *req);
void exec_resize(const struct reply_to *r, const struct jv *req);
void session_cancel(const struct reply_to *r, const struct jv *req);
void session_on_stdin(struct session *s, const char *data, size_t n);
void session_on_eof(struct session *s);
void session_on_credit(struct session *s, uint32_t n);
void session_on_output(struct session *s, int fd);
void session_write_stdin(struct session *s);
void session_reaped(pid_t pid, int status);
void session_timers(void);
int64_t session_next_deadline(void);
void session_detach_conn(struct conn *c);
void group_kill_later(pid_t pgid, int64_t at);

/* ---- user.c ---- */
struct user {
  uid_t uid;
  gid_t gid;
  char home[256];
};
int resolve_user(const char *spec, struct user *u); /* 0, or -1 if unknown */

/* ---- runspec.c: the image's run config, from the run-spec drive ---- */
#define MAX_PORTS 32
struct run_spec {
  int loaded;
  char **argv; /* NULL-terminated; argv[0] NULL when the image names no process */
  char **env;  /* NAME=value, NULL-terminated */
  int nenv;
  char *cwd, *user; /* NULL when not loaded */
  int ports[MAX_PORTS];
  int nports;
};
const char *run_spec_path(void);
/* 1 loaded, 0 no run spec (a guest without a workload), -1 unreadable (why in err). */
int run_spec_load(struct run_spec *s, char *err, size_t cap);
void run_spec_free(struct run_spec *s);
void free_strv(char **v);

/* ---- logs.c: the workload's bounded log and the `logs` op ---- */
#define WLOG_MAX (1024 * 1024)
struct wlog {
  int fd;
  long long base; /* position of the first byte of workload.log in the whole stream */
  long long size;
};
void wlog_open(struct wlog *l);
void wlog_write(struct wlog *l, const char *data, size_t n);
void wlog_printf(struct wlog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void logs_op(const struct reply_to *r, const struct jv *req);

/* ---- workload.c: the workload service ---- */
void workload_main(int argc, char **argv);

/* ---- gateway.c ---- */
void gateway_main(int argc, char **argv) __attribute__((noreturn));
void workload_status(struct buf *b); /* `"workload":{...},` when the guest has a run spec */

/* ---- files.c ---- */
void file_put(const struct reply_to *r, const struct jv *req);
void file_get(const struct reply_to *r, const struct jv *req);
void file_on_stdin(struct session *s, const char *data, size_t n);
void file_on_eof(struct session *s);
int file_get_pump(struct session *s); /* 1 if it sent something */
void file_abort(struct session *s);

/* ---- worker.c ---- */
/* mvm-worker exec|broker: a gateway guest's commands in its tenant's workers; never returns. */
void worker_main(int argc, char **argv) __attribute__((noreturn));

#endif
