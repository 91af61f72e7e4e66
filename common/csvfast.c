/* csvfast: one CSV record -> its Event, directly (rules in csvfast.h).
 * Owns: each cell's conversion straight into its field, and the boolean and
 * enum words. Does not own: the header, quoting, problems (csvin.c) or the
 * JSON -> message mapping it mirrors (json.c). */
#include "csvfast.h"

#include "clock.h"
#include "crrmon/v1/event.pb-c.h"
#include "json.h"
#include "jsonfast.h"
#include "mem.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* json.c's Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
#define S_TS_MIN (-62135596800LL)
#define S_TS_MAX 253402300799LL

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

/* Sets field f at base from cell v as the JSON mapping (json.c) sets it
 * from the value csvin.c's s_cell makes of v. Returns 0, -ENOMEM, or 1
 * (declined: s_cell finds a problem, or a kind left to the jansson way). */
static int s_set(char *base, const ProtobufCFieldDescriptor *f, const char *v)
{
    void *p = base + f->offset;
    char *end;
    errno = 0;
    if (f->label != PROTOBUF_C_LABEL_NONE)
        return 1; /* presence or repeated: json.c */
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        size_t n = strlen(v);
        if (!crr_json_is_utf8(v, n))
            return 1;
        char *copy = crr_malloc(n + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, v, n + 1);
        *(char **)p = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        int b;
        if (crr_csvfast_bool(v, &b) != 0)
            return 1;
        *(protobuf_c_boolean *)p = b ? 1 : 0;
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = crr_csvfast_enum(f->descriptor, v);
        if (!ev)
            return 1;
        *(int *)p = ev->value; /* json.c: the value of ev's (unique) name */
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = strtod(v, &end);
        if (*end || errno || !isfinite(d))
            return 1;
        *(double *)p = d;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT32: {
        unsigned long long u = strtoull(v, &end, 10);
        if (!isdigit((unsigned char)v[0]) || *end || errno || u > UINT32_MAX)
            return 1;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return 1;
        *(int64_t *)p = (int64_t)x;
        return 0;
    }
    default: return 1; /* float, 32-bit signed, 64-bit unsigned, bytes: json.c */
    }
}

/* An envelope cell (a string or the Timestamp) into the Event at base. */
static int s_set_env(char *base, const ProtobufCFieldDescriptor *f, const char *v)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return f->type == PROTOBUF_C_TYPE_STRING ? s_set(base, f, v) : 1;
    if (f->descriptor != &google__protobuf__timestamp__descriptor ||
        f->label != PROTOBUF_C_LABEL_NONE)
        return 1;
    int64_t sec;
    int32_t nanos;
    if (crr_time_parse(v, 0, &sec, &nanos) != 0 || sec < S_TS_MIN || sec > S_TS_MAX)
        return 1; /* json.c's s_read_timestamp refuses it: let it say why */
    Google__Protobuf__Timestamp *t = crr_malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    google__protobuf__timestamp__init(t);
    t->seconds = sec;
    t->nanos = nanos;
    *(Google__Protobuf__Timestamp **)(base + f->offset) = t;
    return 0;
}

int crr_csvfast_event(const ProtobufCFieldDescriptor *type, char *const *cells, size_t n,
                      const crr_csvfast_col_t *cols, ProtobufCMessage **out)
{
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    *out = NULL;
    if (!(type->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return CRR_JSONFAST_DECLINED;
    ProtobufCMessage *ev = crr_malloc(ed->sizeof_message), *body = NULL;
    if (!ev)
        return -ENOMEM;
    ed->message_init(ev);
    const ProtobufCMessageDescriptor *bd = type->descriptor;
    if (!(body = crr_malloc(bd->sizeof_message))) {
        protobuf_c_message_free_unpacked(ev, NULL);
        return -ENOMEM;
    }
    bd->message_init(body);
    *(ProtobufCMessage **)((char *)ev + type->offset) = body; /* ev owns it from here */
    *(uint32_t *)((char *)ev + type->quantifier_offset) = type->id;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (cols[i].kind == CRR_CSVFAST_SKIP || !cells[i][0])
            continue;
        if (!cols[i].f)
            rc = 1; /* not a field of the type (a problem), or an unknown envelope column */
        else if (cols[i].kind == CRR_CSVFAST_BODY)
            rc = s_set((char *)body, cols[i].f, cells[i]);
        else
            rc = s_set_env((char *)ev, cols[i].f, cells[i]);
    }
    if (rc != 0) {
        protobuf_c_message_free_unpacked(ev, NULL);
        return rc < 0 ? rc : CRR_JSONFAST_DECLINED;
    }
    *out = ev;
    return 0;
}
