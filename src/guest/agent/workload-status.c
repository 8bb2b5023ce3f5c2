/*
 * What the agent's status says about the workload service: its state file (written by
 * `mvm-agent workload`) with times made relative (the guest's monotonic clock is shared by
 * both processes; its wall clock may be anything until the host sets it), and which of the
 * image's ports something listens on, from /proc/net/tcp{,6}: the readiness a rollout waits for.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int listening(int port) {
  const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  for (int t = 0; t < 2; t++) {
    FILE *f = fopen(tables[t], "re");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
      char local[128], remote[128], state[8];
      if (sscanf(line, "%*d: %127s %127s %7s", local, remote, state) != 3) continue;
      const char *colon = strrchr(local, ':');
      if (colon && strtol(colon + 1, NULL, 16) == port && strcmp(state, "0A") == 0) {
        fclose(f);
        return 1;
      }
    }
    if (f) fclose(f);
  }
  return 0;
}

static void ports(struct buf *b, const struct run_spec *spec) {
  buf_adds(b, "\"ports\":[");
  for (int i = 0; i < spec->nports; i++)
    buf_printf(b, "%s{\"port\":%d,\"listening\":%s}", i ? "," : "", spec->ports[i],
               listening(spec->ports[i]) ? "true" : "false");
  buf_adds(b, "],");
}

static void from_state_file(struct buf *b) {
  char path[512], text[4096];
  snprintf(path, sizeof path, "%s/workload.json", state_dir());
  struct jv *st = read_small(path, text, sizeof text) > 0 ? json_parse(text, strlen(text)) : NULL;
  const char *state = st ? json_str(st, "state") : NULL;
  jw_str(b, "state", state ? state : "starting");
  double v = 0, now = (double)now_ms();
  jw_int(b, "pid", st && json_num(st, "pid", &v) ? (long long)v : 0);
  jw_int(b, "restarts", st && json_num(st, "restarts", &v) ? (long long)v : 0);
  if (state && strcmp(state, "running") == 0 && json_num(st, "started_mono_ms", &v))
    jw_int(b, "running_for_ms", (long long)(now - v));
  if (st && json_num(st, "backoff_ms", &v)) jw_int(b, "backoff_ms", (long long)v);
  const char *error = st ? json_str(st, "error") : NULL;
  if (error) jw_str(b, "error", error);
  const struct jv *last = st ? json_get(st, "last_exit") : NULL;
  double code = 0, at = 0;
  if (last && last->type == J_OBJ && json_num(last, "code", &code) && json_num(last, "at_mono_ms", &at)) {
    const char *sig = json_str(last, "signal");
    buf_printf(b, "\"last_exit\":{\"code\":%d,\"signal\":", (int)code);
    json_esc(b, sig ? sig : "", sig ? strlen(sig) : 0);
    buf_printf(b, ",\"ago_ms\":%lld},", (long long)(now - at));
  }
  if (st) json_free(st);
}

void workload_status(struct buf *b) {
  struct run_spec spec;
  char why[256];
  int loaded = run_spec_load(&spec, why, sizeof why);
  if (loaded == 0) return;
  buf_adds(b, "\"workload\":{");
  if (loaded < 0) {
    jw_str(b, "state", "invalid");
    jw_str(b, "error", why);
  } else {
    from_state_file(b);
    ports(b, &spec);
  }
  b->len--;
  buf_adds(b, "},");
  run_spec_free(&spec);
}
