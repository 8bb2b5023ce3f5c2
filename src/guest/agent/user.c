/*
 * Users as an image names them: "root", a name or uid from the image's own /etc/passwd (a
 * static binary has no NSS), "uid:gid", or "name:group" with the group from /etc/group.
 * Shared by exec and the workload service.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* Splits a passwd/group line into up to `n` colon-separated fields (in place). */
static int split_fields(char *line, char **fields, int n) {
  char *p = line;
  int i = 0;
  for (; i < n && p; i++) {
    fields[i] = p;
    p = strchr(p, ':');
    if (p) *p++ = 0;
  }
  char *nl = i ? strchr(fields[i - 1], '\n') : NULL;
  if (nl) *nl = 0;
  return i;
}

static int numeric(const char *s, long *out) {
  char *end;
  if (!*s) return 0;
  *out = strtol(s, &end, 10);
  return !*end && *out >= 0;
}

/* A group name or number to a gid; -1 if unknown. */
static long resolve_group(const char *name) {
  long gid;
  if (numeric(name, &gid)) return gid;
  FILE *f = fopen("/etc/group", "re");
  char line[1024];
  while (f && fgets(line, sizeof line, f)) {
    char *fields[4] = {0};
    if (split_fields(line, fields, 4) < 3 || strcmp(fields[0], name) != 0) continue;
    gid = atol(fields[2]);
    fclose(f);
    return gid;
  }
  if (f) fclose(f);
  return -1;
}

int resolve_user(const char *spec, struct user *u) {
  u->uid = 0;
  u->gid = 0;
  strcpy(u->home, "/");
  if (!spec || !*spec) spec = "root";
  char name[128];
  snprintf(name, sizeof name, "%s", spec);
  char *colon = strchr(name, ':');
  long gid = -1;
  if (colon) {
    *colon = 0;
    if ((gid = resolve_group(colon + 1)) < 0) return -1;
  }
  long num;
  int is_num = numeric(name, &num);
  FILE *f = fopen("/etc/passwd", "re");
  int found = 0;
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    char *fields[7] = {0};
    if (split_fields(line, fields, 7) < 4) continue;
    if (is_num ? atol(fields[2]) != num : strcmp(fields[0], name) != 0) continue;
    u->uid = (uid_t)atol(fields[2]);
    u->gid = (gid_t)atol(fields[3]);
    if (fields[5] && *fields[5]) snprintf(u->home, sizeof u->home, "%s", fields[5]);
    found = 1;
    break;
  }
  if (f) fclose(f);
  /* An image without /etc/passwd (distroless) still has root. */
  if (!found && strcmp(name, "root") == 0) return 0;
  if (!found && !is_num) return -1;
  if (!found) u->uid = (uid_t)num;
  if (gid >= 0) u->gid = (gid_t)gid;
  return 0;
}
