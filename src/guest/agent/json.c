/*
 * A small JSON reader (into a tree of nodes) and writer, enough for the protocol's control
 * messages: objects, arrays, strings with escapes (\uXXXX to UTF-8), numbers, booleans, null.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct parser {
  const char *p, *end;
  int depth;
};

static struct jv *parse_value(struct parser *ps);

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static struct jv *node(enum jtype type) {
  struct jv *v = calloc(1, sizeof *v);
  if (v) v->type = type;
  return v;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(struct buf *b, unsigned cp) {
  if (cp < 0x80) {
    buf_addc(b, (char)cp);
  } else if (cp < 0x800) {
    buf_addc(b, (char)(0xC0 | (cp >> 6)));
    buf_addc(b, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    buf_addc(b, (char)(0xE0 | (cp >> 12)));
    buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    buf_addc(b, (char)(0x80 | (cp & 0x3F)));
  } else {
    buf_addc(b, (char)(0xF0 | (cp >> 18)));
    buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
    buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    buf_addc(b, (char)(0x80 | (cp & 0x3F)));
  }
}

static int parse_escape(struct parser *ps, struct buf *out) {
  char e = *ps->p++;
  switch (e) {
    case '"': case '\\': case '/': buf_addc(out, e); return 0;
    case 'b': buf_addc(out, '\b'); return 0;
    case 'f': buf_addc(out, '\f'); return 0;
    case 'n': buf_addc(out, '\n'); return 0;
    case 'r': buf_addc(out, '\r'); return 0;
    case 't': buf_addc(out, '\t'); return 0;
    case 'u': break;
    default: return -1;
  }
  unsigned cp;
  if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0) return -1;
  ps->p += 4;
  if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
    unsigned lo;
    if (hex4(ps->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      ps->p += 6;
    }
  }
  put_utf8(out, cp);
  return 0;
}

/* Reads a string body after the opening quote into a fresh NUL-terminated buffer. */
static char *parse_string_raw(struct parser *ps, size_t *len) {
  struct buf out = {0};
  buf_add(&out, "", 0);
  while (ps->p < ps->end) {
    char c = *ps->p++;
    if (c == '"') {
      *len = out.len;
      return out.p;
    }
    if ((unsigned char)c < 0x20) break;
    if (c != '\\') {
      buf_addc(&out, c);
      continue;
    }
    if (ps->p >= ps->end || parse_escape(ps, &out) < 0) break;
  }
  buf_free(&out);
  return NULL;
}

static struct jv *parse_container(struct parser *ps, int is_obj) {
  struct jv *v = node(is_obj ? J_OBJ : J_ARR);
  if (!v || ++ps->depth > 32) goto fail;
  struct jv **tail = &v->child;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
    ps->p++;
    ps->depth--;
    return v;
  }
  for (;;) {
    char *key = NULL;
    size_t klen;
    skip_ws(ps);
    if (is_obj) {
      if (ps->p >= ps->end || *ps->p != '"') goto fail;
      ps->p++;
      if (!(key = parse_string_raw(ps, &klen))) goto fail;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p++ != ':') {
        free(key);
        goto fail;
      }
    }
    struct jv *item = parse_value(ps);
    if (!item) {
      free(key);
      goto fail;
    }
    item->key = key;
    *tail = item;
    tail = &item->next;
    skip_ws(ps);
    if (ps->p >= ps->end) goto fail;
    char c = *ps->p++;
    if (c == ',') continue;
    if (c == (is_obj ? '}' : ']')) break;
    goto fail;
  }
  ps->depth--;
  return v;
fail:
  json_free(v);
  return NULL;
}

static struct jv *parse_number(struct parser *ps) {
  char tmp[64];
  size_t n = 0;
  while (ps->p < ps->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", *ps->p))
    tmp[n++] = *ps->p++;
  tmp[n] = 0;
  char *endp;
  double d = strtod(tmp, &endp);
  if (n == 0 || *endp) return NULL;
  struct jv *v = node(J_NUM);
  if (v) v->num = d;
  return v;
}

static int literal(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
  ps->p += n;
  return 1;
}

static struct jv *parse_value(struct parser *ps) {
  skip_ws(ps);
  if (ps->p >= ps->end) return NULL;
  char c = *ps->p;
  if (c == '{' || c == '[') {
    ps->p++;
    return parse_container(ps, c == '{');
  }
  if (c == '"') {
    ps->p++;
    size_t len;
    char *s = parse_string_raw(ps, &len);
    if (!s) return NULL;
    struct jv *v = node(J_STR);
    if (!v) {
      free(s);
      return NULL;
    }
    v->str = s;
    v->len = len;
    return v;
  }
  if (literal(ps, "true") || literal(ps, "false")) {
    struct jv *v = node(J_BOOL);
    if (v) v->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
    return v;
  }
  if (literal(ps, "null")) return node(J_NULL);
  return parse_number(ps);
}

struct jv *json_parse(const char *text, size_t len) {
  struct parser ps = {text, text + len, 0};
  struct jv *v = parse_value(&ps);
  skip_ws(&ps);
  if (v && ps.p != ps.end) {
    json_free(v);
    return NULL;
  }
  return v;
}

void json_free(struct jv *v) {
  while (v) {
    struct jv *next = v->next;
    json_free(v->child);
    free(v->str);
    free(v->key);
    free(v);
    v = next;
  }
}

const struct jv *json_get(const struct jv *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (const struct jv *m = obj->child; m; m = m->next)
    if (m->key && strcmp(m->key, key) == 0) return m;
  return NULL;
}

const char *json_str(const struct jv *obj, const char *key) {
  const struct jv *v = json_get(obj, key);
  return v && v->type == J_STR ? v->str : NULL;
}

int json_num(const struct jv *obj, const char *key, double *out) {
  const struct jv *v = json_get(obj, key);
  if (!v || v->type != J_NUM) return 0;
  *out = v->num;
  return 1;
}

int json_bool(const struct jv *obj, const char *key, int fallback) {
  const struct jv *v = json_get(obj, key);
  return v && v->type == J_BOOL ? v->boolean : fallback;
}

void json_esc(struct buf *b, const char *s, size_t n) {
  buf_addc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      buf_addc(b, '\\');
      buf_addc(b, (char)c);
    } else if (c == '\n') {
      buf_adds(b, "\\n");
    } else if (c < 0x20 || c == 0x7f) {
      buf_printf(b, "\\u%04x", c);
    } else {
      buf_addc(b, (char)c);
    }
  }
  buf_addc(b, '"');
}

static void key(struct buf *b, const char *k) {
  json_esc(b, k, strlen(k));
  buf_addc(b, ':');
}

void jw_str(struct buf *b, const char *k, const char *val) {
  key(b, k);
  json_esc(b, val, strlen(val));
  buf_addc(b, ',');
}

void jw_int(struct buf *b, const char *k, long long val) {
  key(b, k);
  buf_printf(b, "%lld,", val);
}

void jw_num(struct buf *b, const char *k, double val) {
  key(b, k);
  buf_printf(b, "%.2f,", val);
}

void jw_bool(struct buf *b, const char *k, int val) {
  key(b, k);
  buf_adds(b, val ? "true," : "false,");
}

void jw_raw(struct buf *b, const char *k, const char *raw) {
  key(b, k);
  buf_adds(b, raw);
  buf_addc(b, ',');
}
