/* csvfast: one CSV record -> plain JSON text -> jsonfast (rules in
 * csvfast.h). Owns: each cell's conversion to its JSON value's text, and
 * the boolean and enum words. Does not own: the header, quoting, problems
 * (csvin.c) or the JSON -> message mapping (jsonfast.c, json.c). */
#include "csvfast.h"

#include "crrmon/v1/event.pb-c.h"
#include "jsonfast.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int crr_csvfast_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

const ProtobufCEnumValue *crr_csvfast_enum(const ProtobufCEnumDescriptor *ed, const char *v)
{
    const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(ed, 0);
    size_t plen = 0; /* "ETHNICITY_" of ETHNICITY_UNSPECIFIED */
    if (zero && strlen(zero->name) > 11)
        plen = strlen(zero->name) - 11;
    char *end;
    errno = 0;
    long num = strtol(v, &end, 10);
    if (*v && !*end && !errno && num > 0 && num <= INT32_MAX)
        return protobuf_c_enum_descriptor_get_value(ed, (int)num);
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *name = ed->values[i].name;
        if (ed->values[i].value == 0)
            continue;
        if (strcasecmp(name, v) == 0 || (strlen(name) > plen && strcasecmp(name + plen, v) == 0))
            return &ed->values[i];
    }
    return NULL;
}

/* The text being built: *buf grows; oom is sticky. */
typedef struct {
    char **buf;
    size_t *cap, len;
    int oom;
} s_out_t;

static void s_put(s_out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 1024;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(*o->buf, cap);
        if (!b) {
            o->oom = 1;
            return;
        }
        *o->buf = b;
        *o->cap = cap;
    }
    memcpy(*o->buf + o->len, s, n);
    o->len += n;
}

/* `"key":` after a comma unless first. */
static void s_key(s_out_t *o, const char *key, int first)
{
    s_put(o, first ? "\"" : ",\"", first ? 1 : 2);
    s_put(o, key, strlen(key));
    s_put(o, "\":", 2);
}

/* A text cell as a JSON string, or -1 when it would need an escape. */
static int s_str(s_out_t *o, const char *v)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
        if (*p < 0x20 || *p == '"' || *p == '\\')
            return -1;
    s_put(o, "\"", 1);
    s_put(o, v, n);
    s_put(o, "\"", 1);
    return 0;
}

/* Cell v of field f as its JSON value: what csvin.c's s_cell makes of it, as
 * text. -1 where s_cell finds a problem (or for a kind it does not know). */
static int s_value(s_out_t *o, const ProtobufCFieldDescriptor *f, const char *v)
{
    char *end, num[40];
    int n;
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: return s_str(o, v);
    case PROTOBUF_C_TYPE_BOOL: {
        int b;
        if (crr_csvfast_bool(v, &b) != 0)
            return -1;
        s_put(o, b ? "true" : "false", b ? 4 : 5);
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = crr_csvfast_enum(f->descriptor, v);
        return ev ? s_str(o, ev->name) : -1;
    }
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_FLOAT: {
        double d = strtod(v, &end);
        if (*end || errno || !isfinite(d))
            return -1;
        /* %.17g reads back as d; ".0" keeps a whole one a real, as json_real */
        n = snprintf(num, sizeof num, "%.17g", d);
        if (n <= 0 || (size_t)n >= sizeof num - 2)
            return -1;
        if (!strpbrk(num, ".eE"))
            memcpy(num + n, ".0", 3), n += 2;
        break;
    }
    case PROTOBUF_C_TYPE_UINT32: {
        unsigned long long u = strtoull(v, &end, 10);
        if (!isdigit((unsigned char)v[0]) || *end || errno || u > UINT32_MAX)
            return -1;
        n = snprintf(num, sizeof num, "%llu", u);
        break;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        long long s = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return -1;
        n = snprintf(num, sizeof num, "%lld", s);
        break;
    }
    default: return -1; /* the jansson way decides */
    }
    s_put(o, num, (size_t)n);
    return 0;
}

int crr_csvfast_event(const ProtobufCFieldDescriptor *type, char *const *cells, size_t n,
                      const crr_csvfast_col_t *cols, char **buf, size_t *cap,
                      ProtobufCMessage **out)
{
    *out = NULL;
    s_out_t o = {buf, cap, 0, 0};
    s_put(&o, "{", 1);
    s_key(&o, type->name, 1);
    s_put(&o, "{", 1);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (cols[i].kind != CRR_CSVFAST_BODY || !cells[i][0])
            continue;
        if (!cols[i].f)
            return CRR_JSONFAST_DECLINED; /* not a field of the type: a problem */
        s_key(&o, cols[i].key, first);
        first = 0;
        if (s_value(&o, cols[i].f, cells[i]) != 0)
            return CRR_JSONFAST_DECLINED;
    }
    s_put(&o, "}", 1);
    for (size_t i = 0; i < n; i++) {
        if (cols[i].kind != CRR_CSVFAST_ENV || !cells[i][0])
            continue;
        s_key(&o, cols[i].key, 0);
        if (s_str(&o, cells[i]) != 0)
            return CRR_JSONFAST_DECLINED;
    }
    s_put(&o, "}", 1);
    if (o.oom)
        return -ENOMEM;
    return crr_json_fast_parse(&crrmon__v1__event__descriptor, *buf, o.len, out);
}
