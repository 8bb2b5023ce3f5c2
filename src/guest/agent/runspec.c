/*
 * The run spec (`run.json` on the run-spec drive, label mvm-run, mounted at /mvm/run): the
 * image's Entrypoint+Cmd, Env, WorkingDir and User as the host derived them
 * (src/core/image-run-config.ts). The workload service runs it; every exec takes its Env and
 * WorkingDir as defaults. MVM_RUN_SPEC names another file (tests on the host).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define MAX_SPEC (256 * 1024)

const char *run_spec_path(void) {
  const char *path = getenv("MVM_RUN_SPEC");
  return path && *path ? path : "/mvm/run/run.json";
}

void run_spec_free(struct run_spec *s) {
  free_strv(s->argv);
  free_strv(s->env);
  free(s->cwd);
  free(s->user);
  memset(s, 0, sizeof *s);
}

static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *text = malloc(MAX_SPEC + 1);
  size_t n = 0;
  ssize_t got;
  while (text && n < MAX_SPEC && (got = read(fd, text + n, MAX_SPEC - n)) > 0) n += (size_t)got;
  close(fd);
  if (text) text[n] = 0;
  *len = n;
  return text;
}

static char **strings(const struct jv *arr, int *count) {
  int n = 0;
  for (const struct jv *a = arr ? arr->child : NULL; a; a = a->next) {
    if (a->type != J_STR) return NULL;
    n++;
  }
  char **out = calloc((size_t)n + 1, sizeof *out);
  int i = 0;
  for (const struct jv *a = arr ? arr->child : NULL; out && a; a = a->next) out[i++] = strdup(a->str);
  if (count) *count = n;
  return out;
}

static char **env_pairs(const struct jv *obj, int *count) {
  int n = 0;
  for (const struct jv *m = obj ? obj->child : NULL; m; m = m->next) {
    if (m->type != J_STR || !m->key || !*m->key || strchr(m->key, '=')) return NULL;
    n++;
  }
  char **out = calloc((size_t)n + 1, sizeof *out);
  int i = 0;
  for (const struct jv *m = obj ? obj->child : NULL; out && m; m = m->next)
    if (asprintf(&out[i], "%s=%s", m->key, m->str) >= 0) i++;
  *count = i;
  return out;
}

static int invalid(struct run_spec *s, char *err, size_t cap, const char *why) {
  snprintf(err, cap, "%s: %s", run_spec_path(), why);
  run_spec_free(s);
  return -1;
}

int run_spec_load(struct run_spec *s, char *err, size_t cap) {
  memset(s, 0, sizeof *s);
  size_t len;
  char *text = slurp(run_spec_path(), &len);
  if (!text) {
    if (errno == ENOENT) return 0;
    snprintf(err, cap, "%s: %s", run_spec_path(), strerror(errno));
    return -1;
  }
  struct jv *doc = json_parse(text, len);
  free(text);
  double version = 0;
  if (!doc || doc->type != J_OBJ) return invalid(s, err, cap, "not a JSON object");
  if (!json_num(doc, "version", &version) || version != 1) {
    json_free(doc);
    return invalid(s, err, cap, "not a version-1 run spec");
  }
  const struct jv *argv = json_get(doc, "argv"), *env = json_get(doc, "env");
  const char *cwd = json_str(doc, "cwd"), *user = json_str(doc, "user");
  s->argv = argv && argv->type == J_ARR ? strings(argv, NULL) : NULL;
  s->env = env && env->type == J_OBJ ? env_pairs(env, &s->nenv) : NULL;
  if (cwd && cwd[0] == '/') s->cwd = strdup(cwd);
  if (user) s->user = strdup(user);
  const struct jv *ports = json_get(doc, "ports");
  for (const struct jv *p = ports ? ports->child : NULL; p && s->nports < MAX_PORTS; p = p->next)
    if (p->type == J_NUM && p->num >= 1 && p->num <= 65535) s->ports[s->nports++] = (int)p->num;
  json_free(doc);
  if (!s->argv || !s->env || !s->cwd || !s->user)
    return invalid(s, err, cap, "argv, env, cwd or user missing or malformed");
  s->loaded = 1;
  return 1;
}
