/*
 * `mvm-agent gateway FILE`: checks a gateway's gateway.json by the rules the coordinator
 * applies when it is set (src/core/gateway-config.ts: an object with only `routes`, at most
 * 64 of {"to": canonical IPv4 CIDR, "via": unicast IPv4}, no two to the same network) and
 * prints one "TO VIA" line per route, which the init applies with `ip route replace`. A bad
 * file prints every problem on stderr and exits 2, a missing one exits 3: the init then
 * records why in /run/mvm/gateway.status and applies nothing from it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define MAX_GATEWAY_FILE (256 * 1024)
#define MAX_ROUTES 64

static int problems;

__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("gateway.json: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  problems++;
}

/* Strict dotted quad (no leading zeros, no spaces) into *out; 0 on success. */
static int parse_ipv4(const char *s, size_t n, unsigned long *out) {
  unsigned long value = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t start = i;
    unsigned long octet = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
      octet = octet * 10 + (unsigned)(s[i++] - '0');
    size_t len = i - start;
    if (len == 0 || octet > 255 || (len > 1 && s[start] == '0')) return -1;
    value = value * 256 + octet;
    if (++parts < 4) {
      if (i >= n || s[i] != '.') return -1;
      i++;
    }
  }
  if (i != n) return -1;
  *out = value;
  return 0;
}

static int is_unicast(const char *s) {
  unsigned long ip;
  if (parse_ipv4(s, strlen(s), &ip) < 0) return 0;
  unsigned long first = ip >> 24;
  return first != 0 && first != 127 && first < 224;
}

static int is_cidr(const char *s) {
  const char *slash = strchr(s, '/');
  unsigned long ip;
  if (!slash || parse_ipv4(s, (size_t)(slash - s), &ip) < 0) return 0;
  const char *p = slash + 1;
  size_t len = strlen(p);
  if (len < 1 || len > 2 || (len == 2 && p[0] == '0')) return 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] < '0' || p[i] > '9') return 0;
  int prefix = atoi(p);
  if (prefix > 32) return 0;
  unsigned long mask = prefix == 0 ? 0 : (0xffffffffUL << (32 - prefix)) & 0xffffffffUL;
  return (ip & mask) == ip;
}

/* `where` names the object in problems ("" for the top level). */
static void only_keys(const struct jv *obj, const char *const *known, const char *where) {
  for (const struct jv *m = obj->child; m; m = m->next) {
    int found = 0;
    for (const char *const *k = known; *k; k++) found |= strcmp(m->key, *k) == 0;
    if (!found) problem("%s%sunknown key '%s'", where, *where ? ": " : "", m->key);
  }
}

static void check_route(const struct jv *route, int i, const char **to_out, const char **via_out) {
  static const char *const keys[] = {"to", "via", NULL};
  *to_out = *via_out = NULL;
  if (route->type != J_OBJ) {
    problem("routes[%d] must be an object {\"to\": CIDR, \"via\": IPv4}", i);
    return;
  }
  char where[32];
  snprintf(where, sizeof where, "routes[%d]", i);
  only_keys(route, keys, where);
  const char *to = json_str(route, "to");
  const char *via = json_str(route, "via");
  if (!to || !is_cidr(to)) problem("routes[%d].to must be an IPv4 CIDR with host bits zero", i);
  else *to_out = to;
  if (!via || !is_unicast(via)) problem("routes[%d].via must be a unicast IPv4 address", i);
  else *via_out = via;
}

void gateway_main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mvm-agent gateway FILE\n");
    exit(2);
  }
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "gateway.json: %s is missing; set it with 'mvm pool config set'\n", argv[2]);
    exit(3);
  }
  char *text = malloc(MAX_GATEWAY_FILE + 1);
  size_t n = 0;
  ssize_t got;
  while (text && n <= MAX_GATEWAY_FILE &&
         (got = read(fd, text + n, MAX_GATEWAY_FILE + 1 - n)) > 0)
    n += (size_t)got;
  close(fd);
  if (!text || n > MAX_GATEWAY_FILE) {
    fprintf(stderr, "gateway.json: over %d bytes\n", MAX_GATEWAY_FILE);
    exit(2);
  }
  struct jv *doc = json_parse(text, n);
  if (!doc || doc->type != J_OBJ) {
    fprintf(stderr, "gateway.json: %s\n", doc ? "must be a JSON object" : "is not JSON");
    exit(2);
  }
  static const char *const keys[] = {"routes", NULL};
  only_keys(doc, keys, "");
  const struct jv *routes = json_get(doc, "routes");
  const char *to[MAX_ROUTES], *via[MAX_ROUTES];
  int count = 0;
  if (routes && routes->type != J_ARR) problem("routes must be an array");
  const struct jv *first = routes && routes->type == J_ARR ? routes->child : NULL;
  for (const struct jv *r = first; r; r = r->next) {
    if (count == MAX_ROUTES) {
      problem("more than %d routes", MAX_ROUTES);
      break;
    }
    check_route(r, count, &to[count], &via[count]);
    for (int j = 0; to[count] && j < count; j++)
      if (to[j] && strcmp(to[j], to[count]) == 0) problem("two routes to %s", to[j]);
    count++;
  }
  if (problems > 0) exit(2);
  for (int i = 0; i < count; i++) printf("%s %s\n", to[i], via[i]);
  exit(0);
}
