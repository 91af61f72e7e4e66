/* json: proto3 canonical JSON <-> protobuf-c messages, walking descriptors.
 *
 * Design. protobuf-c 1.4.1 descriptors carry no json_name, no map flag and no
 * oneof name, so this file derives them: the JSON name is the proto name in
 * lowerCamelCase (the rule protoc uses: drop each '_' and upper-case the
 * letter after it); a map field is a repeated message field whose type is a
 * nested "...Entry" message with exactly key = 1 and value = 2; oneof members
 * carry PROTOBUF_C_FIELD_FLAG_ONEOF and their quantifier_offset points at the
 * shared case word. Timestamp and the wrappers are recognised by full name.
 *
 * Invariants of the reader: a message under construction is always valid for
 * protobuf_c_message_free_unpacked(m, NULL): it is malloc'd and initialised
 * with its descriptor's message_init, a repeated field's count only covers
 * elements already filled (arrays are calloc'd), every string and bytes
 * buffer is malloc'd, and a sub-message is stored only once complete. So
 * every error path frees the top-level message and nothing leaks.
 *
 * Errors name the dotted proto path (values[2].dims[k], stop_search.outcome)
 * kept in a fixed buffer while descending.
 *
 * Not done here: semantic validation (validate.c), Duration/Struct/Any/
 * FieldMask special forms, proto2 defaults. No state; thread-safe. */
#include "json.h"

#include "clock.h"
#include "jsonfast.h"
#include "mem.h"

#include "google/protobuf/timestamp.pb-c.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MALFORMED 1             /* REJECT_CODE_MALFORMED */
#define S_TS_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define S_TS_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

/* Special forms of well-known types. */
enum { S_WKT_NONE, S_WKT_TIMESTAMP, S_WKT_WRAPPER };

/* Reader state for one crr_json_to_message call. */
typedef struct {
    crr_diag_t *d;  /* where errors go (may be NULL) */
    char path[128]; /* dotted proto path of the value being read */
    size_t len;     /* strlen(path) */
} s_rd_t;

/* ---- descriptors ------------------------------------------------------ */

static int s_wkt(const ProtobufCMessageDescriptor *desc)
{
    static const char *const wrappers[] = {
        "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue",
    };
    if (strncmp(desc->name, "google.protobuf.", 16) != 0)
        return S_WKT_NONE;
    if (strcmp(desc->name, "google.protobuf.Timestamp") == 0)
        return S_WKT_TIMESTAMP;
    for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++)
        if (strcmp(desc->name, wrappers[i]) == 0 && desc->n_fields == 1 && desc->fields[0].id == 1)
            return S_WKT_WRAPPER;
    return S_WKT_NONE;
}

/* The entry descriptor when f is a map field, else NULL. */
static const ProtobufCMessageDescriptor *s_map_entry(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t n = strlen(e->name);
    if (n < 5 || strcmp(e->name + n - 5, "Entry") != 0 || e->n_fields != 2)
        return NULL;
    const ProtobufCFieldDescriptor *k = protobuf_c_message_descriptor_get_field(e, 1);
    const ProtobufCFieldDescriptor *v = protobuf_c_message_descriptor_get_field(e, 2);
    if (!k || !v || strcmp(k->name, "key") != 0 || strcmp(v->name, "value") != 0)
        return NULL;
    return e;
}

/* Size of one element of a repeated field of this type. */
static size_t s_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static const char *s_type_name(ProtobufCType t)
{
    static const char *const names[] = {"int32",    "sint32", "sfixed32", "int64",  "sint64",
                                        "sfixed64", "uint32", "fixed32",  "uint64", "fixed64",
                                        "float",    "double", "bool",     "enum",   "string",
                                        "bytes",    "message"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* lowerCamelCase JSON name of a proto field name (protoc's ToJsonName). */
static void s_json_name(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    int up = 0;
    for (const char *p = name; *p && o + 1 < len; p++) {
        if (*p == '_') {
            up = 1;
        } else {
            buf[o++] = (up && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
            up = 0;
        }
    }
    buf[o] = '\0';
}

static const ProtobufCFieldDescriptor *s_find_field(const ProtobufCMessageDescriptor *desc,
                                                    const char *key)
{
    const ProtobufCFieldDescriptor *byname =
        protobuf_c_message_descriptor_get_field_by_name(desc, key);
    if (byname)
        return byname;
    char jn[256];
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (strcmp(f->name, key) == 0)
            return f;
        s_json_name(f->name, jn, sizeof jn);
        if (strcmp(jn, key) == 0)
            return f;
    }
    return NULL;
}

/* ---- base64 ------------------------------------------------------------ */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *s_b64_encode(const uint8_t *p, size_t n)
{
    size_t olen = (n + 2) / 3 * 4;
    char *buf = crr_malloc(olen + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        buf[o++] = s_b64[v >> 18 & 63];
        buf[o++] = s_b64[v >> 12 & 63];
        buf[o++] = i + 1 < n ? s_b64[v >> 6 & 63] : '=';
        buf[o++] = i + 2 < n ? s_b64[v & 63] : '=';
    }
    buf[o] = '\0';
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static int s_b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64, padding optional. Returns 0, 1 (bad
 * input) or -ENOMEM; *out is malloc'd (NULL when empty). */
static int s_b64_decode(const char *s, size_t n, uint8_t **out, size_t *olen)
{
    *out = NULL;
    *olen = 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return 1;
    if (n == 0)
        return 0;
    uint8_t *buf = crr_malloc(n / 4 * 3 + 3);
    if (!buf)
        return -ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_b64_val(s[i]);
        if (v < 0) {
            free(buf);
            return 1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = buf;
    *olen = o;
    return 0;
}

/* ---- writing ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF) when it fits in the avail bytes left, or 0
 * when it is not one (or is cut short by avail). */
static size_t s_utf8_seqn(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n > avail || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* The same for a NUL-terminated string (the NUL stops any sequence). */
static size_t s_utf8_seq(const unsigned char *p)
{
    return s_utf8_seqn(p, 4);
}

json_t *crr_json_text(const char *s, size_t len, size_t max)
{
    if (!s)
        return NULL;
    char *buf = crr_malloc(max + 1);
    if (!buf)
        return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t o = 0;
    while (p < end) {
        size_t k = s_utf8_seqn(p, (size_t)(end - p));
        const char *from = k ? (const char *)p : "\xEF\xBF\xBD";
        size_t w = k ? k : 3;
        if (o + w > max)
            break; /* never half a character */
        memcpy(buf + o, from, w);
        o += w;
        p += k ? k : 1;
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

/* A JSON string of s. protobuf-c does not check UTF-8 when unpacking, so a
 * string from the wire may be invalid: each bad byte is written as U+FFFD
 * rather than failing the whole message (rejects of bad frames must still be
 * recordable). */
static json_t *s_write_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *buf = crr_malloc(n * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = s_utf8_seq(p);
        if (k) {
            memcpy(buf + o, p, k);
            o += k;
            p += k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}

int crr_json_is_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t k = s_utf8_seqn(p, (size_t)(end - p));
        if (!k)
            return 0;
        p += k;
    }
    return 1;
}

static json_t *s_write_msg(const ProtobufCMessage *m, unsigned flags);

static json_t *s_write_double(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

const char *crr_double_text(double v, char *buf, size_t len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* A float as the shortest decimal that reads back as the same float, as
 * Google's writers do, so 0.1f is 0.1 and not 0.100000001490116. */
static json_t *s_write_float(float v)
{
    if (isnan(v) || isinf(v))
        return s_write_double(v);
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return json_real(strtod(buf, NULL));
    }
    return json_real(v);
}

/* Writes a message that may be absent (a map value): absent as its default. */
static json_t *s_write_msg_or_default(const ProtobufCMessageDescriptor *desc,
                                      const ProtobufCMessage *m, unsigned flags)
{
    if (m)
        return s_write_msg(m, flags);
    ProtobufCMessage *tmp = crr_malloc(desc->sizeof_message);
    if (!tmp)
        return NULL;
    desc->message_init(tmp);
    json_t *j = s_write_msg(tmp, flags);
    protobuf_c_message_free_unpacked(tmp, NULL);
    return j;
}

/* One value of field f stored at p (a scalar, char *, ProtobufCBinaryData or
 * ProtobufCMessage *). */
static json_t *s_write_value(const ProtobufCFieldDescriptor *f, const void *p, unsigned flags)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT: return s_write_float(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return s_write_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s_write_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return s_b64_encode(b->data, b->data ? b->len : 0);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_write_msg_or_default(f->descriptor, *(ProtobufCMessage *const *)p, flags);
    }
    return NULL;
}

/* True when the singular value at p is its proto3 default. */
static int s_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return *(const uint32_t *)p == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)p; /* -0.0 is not the default: its bits differ */
        return v == 0 && !signbit(v);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)p;
        return v == 0 && !signbit(v);
    }
    case PROTOBUF_C_TYPE_BOOL: return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_ENUM: return *(const int *)p == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p == NULL;
    }
    return 1;
}

/* A map key as JSON object key text. */
static void s_map_key(const ProtobufCFieldDescriptor *kf, const void *p, char *buf, size_t len,
                      const char **out)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: *out = *(char *const *)p ? *(char *const *)p : ""; return;
    case PROTOBUF_C_TYPE_BOOL: *out = *(const protobuf_c_boolean *)p ? "true" : "false"; return;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: snprintf(buf, len, "%" PRId32, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: snprintf(buf, len, "%" PRIu32, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: snprintf(buf, len, "%" PRId64, *(const int64_t *)p); break;
    default: snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p); break;
    }
    *out = buf;
}

static json_t *s_write_map(const ProtobufCMessageDescriptor *ed, ProtobufCMessage *const *arr,
                           size_t n, unsigned flags)
{
    const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
    const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!arr[i])
            continue;
        const char *base = (const char *)arr[i];
        char kbuf[32];
        const char *key;
        s_map_key(kf, base + kf->offset, kbuf, sizeof kbuf, &key);
        json_t *ks = s_write_string(key); /* a valid UTF-8 copy of the key */
        json_t *v = ks ? s_write_value(vf, base + vf->offset, flags) : NULL;
        int rc = v ? json_object_set_new(o, json_string_value(ks), v) : -1;
        json_decref(ks);
        if (rc != 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *s_write_repeated(const ProtobufCFieldDescriptor *f, const char *arr, size_t n,
                                unsigned flags)
{
    size_t sz = s_elem_size(f->type);
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = s_write_value(f, arr + i * sz, flags);
        if (!v || json_array_append_new(a, v) != 0)
            goto fail;
    }
    return a;
fail:
    json_decref(a);
    return NULL;
}

static json_t *s_write_timestamp(const ProtobufCMessage *m)
{
    const Google__Protobuf__Timestamp *t = (const Google__Protobuf__Timestamp *)m;
    int32_t nanos = t->nanos;
    if (nanos < 0 || nanos > 999999999) /* out of the proto range: best effort, never fail */
        nanos = 0;
    char buf[48];
    return json_string(crr_time_format(t->seconds, nanos, buf, sizeof buf));
}

static json_t *s_write_msg(const ProtobufCMessage *m, unsigned flags)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const char *base = (const char *)m;
    switch (s_wkt(desc)) {
    case S_WKT_TIMESTAMP: return s_write_timestamp(m);
    case S_WKT_WRAPPER:
        return s_write_value(&desc->fields[0], base + desc->fields[0].offset, flags);
    default: break;
    }
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *p = base + f->offset;
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0 && !(flags & CRR_JSON_EMIT_DEFAULTS))
                continue;
            const char *arr = *(char *const *)p;
            const ProtobufCMessageDescriptor *ed = s_map_entry(f);
            if (n && !arr)
                n = 0;
            v = ed ? s_write_map(ed, (ProtobufCMessage *const *)arr, n, flags)
                   : s_write_repeated(f, arr, n, flags);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
            v = s_write_value(f, p, flags);
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                   f->type != PROTOBUF_C_TYPE_STRING) {
            if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                continue;
            v = s_write_value(f, p, flags);
        } else {
            /* an unset message (or an absent proto2 string) is never written */
            if ((f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) &&
                *(void *const *)p == NULL)
                continue;
            if (f->type != PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REQUIRED &&
                !(flags & CRR_JSON_EMIT_DEFAULTS) && s_is_default(f, p))
                continue;
            v = s_write_value(f, p, flags);
        }
        if (!v)
            goto fail;
        char jn[256];
        const char *name = f->name;
        if (!(flags & CRR_JSON_ORIG_NAMES)) {
            s_json_name(f->name, jn, sizeof jn);
            name = jn;
        }
        if (json_object_set_new(o, name, v) != 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

json_t *crr_json_from_message(const ProtobufCMessage *m, unsigned flags)
{
    if (!m)
        return NULL;
    /* jansson may drop a member whose allocation failed and go on: a tree
     * built while any allocation failed is not the message, so none is */
    unsigned long nomem = crr_mem_thread_failures();
    json_t *j = s_write_msg(m, flags);
    if (j && crr_mem_thread_failures() != nomem) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Walks the reals of j with precision *prec (significant digits). climb 0:
 * returns 1 when every one reads back exactly from *prec digits, else 0.
 * climb 1: raises *prec (at most 17) at each real until it reads back
 * exactly, taking the reals one at a time; returns 1. */
static int s_prec_walk(const json_t *j, int *prec, int climb)
{
    char buf[40];
    size_t i;
    const char *k;
    json_t *v;
    switch (json_typeof(j)) {
    case JSON_REAL:
        for (;; (*prec)++) {
            snprintf(buf, sizeof buf, "%.*g", *prec, json_real_value(j));
            if (strtod(buf, NULL) == json_real_value(j))
                return 1;
            if (!climb || *prec >= 17)
                return climb;
        }
    case JSON_ARRAY:
        json_array_foreach(j, i, v)
        {
            if (!s_prec_walk(v, prec, climb))
                return 0;
        }
        return 1;
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, k, v)
        {
            if (!s_prec_walk(v, prec, climb))
                return 0;
        }
        return 1;
    default: return 1;
    }
}

/* The fewest significant digits (1..17) with which every real in j reads
 * back exactly: jansson prints all reals of one dump with one precision, and
 * its default of 17 writes 0.1 as 0.10000000000000001. No precision below
 * the climb's works (some real failed at each), so the answer is the first
 * from there at which all pass: checked once for all, instead of every
 * precision from 1 tried on every real (the live feed's rows were a tenth
 * of the aggregator's CPU on a backfill). */
static int s_real_precision(const json_t *j)
{
    int prec = 1;
    s_prec_walk(j, &prec, 1);
    while (prec < 17 && !s_prec_walk(j, &prec, 0))
        prec++;
    return prec;
}

char *crr_json_dump_checked(const json_t *j, size_t flags)
{
    if (!j)
        return NULL;
    /* jansson's writer drops what it could not allocate (a key) and goes on */
    unsigned long nomem = crr_mem_thread_failures();
    char *s = json_dumps(j, flags);
    if (s && crr_mem_thread_failures() != nomem) {
        free(s);
        s = NULL;
    }
    return s;
}

char *crr_json_dumps(const ProtobufCMessage *m, unsigned flags)
{
    json_t *j = crr_json_from_message(m, flags);
    if (!j)
        return NULL;
    char *s = crr_json_dump_checked(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                           JSON_REAL_PRECISION(s_real_precision(j)));
    json_decref(j);
    return s;
}

/* ---- reading ----------------------------------------------------------- */

static int s_fail(s_rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces, in place, each byte of s that is not part of valid UTF-8, and
 * each control character, by '?' (quoted input cut at 60 bytes may end
 * inside a character; a key may hold a newline), so diagnostics stay one
 * line and can themselves be stored as JSON. */
static void s_utf8_clean(char *s)
{
    crr_json_clean(s);
}

void crr_json_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t k = s_utf8_seq(p);
        if (k && *p >= 0x20 && *p != 0x7f) {
            p += k;
        } else {
            *p++ = '?';
        }
    }
}

static int s_fail(s_rd_t *r, const char *fmt, ...)
{
    if (r->d) {
        char reason[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        s_utf8_clean(reason);
        s_utf8_clean(r->path);
        crr_diag_set(r->d, S_MALFORMED, r->path, "%s", reason);
    }
    return CRR_EPARSE;
}

static int s_nomem(s_rd_t *r)
{
    if (r->d)
        crr_diag_set(r->d, S_MALFORMED, r->path, "out of memory");
    return -ENOMEM;
}

/* Appends ".name" (or "name" at the top, or "[idx]" when name is NULL) to
 * the path; returns the old length for s_pop. */
static size_t s_push(s_rd_t *r, const char *name, size_t idx)
{
    size_t old = r->len;
    int n;
    if (name)
        n = snprintf(r->path + r->len, sizeof r->path - r->len, "%s%s", r->len ? "." : "", name);
    else
        n = snprintf(r->path + r->len, sizeof r->path - r->len, "[%zu]", idx);
    if (n > 0)
        r->len += (size_t)n;
    if (r->len >= sizeof r->path)
        r->len = sizeof r->path - 1;
    return old;
}

static void s_pop(s_rd_t *r, size_t old)
{
    r->len = old;
    r->path[old] = '\0';
}

static const char *s_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Strict decimal integer text: an optional sign ('-' only when allow_minus),
 * digits, nothing else (no spaces, as json_format). */
static int s_is_int_text(const char *s, int allow_minus)
{
    if (*s == '+' || (allow_minus && *s == '-'))
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* A signed integer in [lo, hi] from a JSON integer, an integral real or a
 * decimal string. */
static int s_get_int(s_rd_t *r, const json_t *v, int64_t lo, int64_t hi, const char *tname,
                     int64_t *out)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double dv = json_real_value(v);
        if (dv != floor(dv))
            return s_fail(r, "%s value %.17g is not an integer", tname, dv);
        if (dv < -9223372036854775808.0 || dv >= 9223372036854775808.0)
            return s_fail(r, "value %.17g out of range for %s", dv, tname);
        x = (int64_t)dv;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!s_is_int_text(s, 1))
            return s_fail(r, "\"%.60s\" is not a valid %s", s, tname);
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            return s_fail(r, "value %.60s out of range for %s", s, tname);
        x = ll;
    } else {
        return s_fail(r, "expected %s (a number), got %s", tname, s_json_kind(v));
    }
    if (x < lo || x > hi)
        return s_fail(r, "value %" PRId64 " out of range for %s", x, tname);
    *out = x;
    return 0;
}

/* An unsigned integer up to hi, as s_get_int. */
static int s_get_uint(s_rd_t *r, const json_t *v, uint64_t hi, const char *tname, uint64_t *out)
{
    uint64_t x;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return s_fail(r, "value %" JSON_INTEGER_FORMAT " out of range for %s", i, tname);
        x = (uint64_t)i;
    } else if (json_is_real(v)) {
        double dv = json_real_value(v);
        if (dv != floor(dv))
            return s_fail(r, "%s value %.17g is not an integer", tname, dv);
        if (dv < 0 || dv >= 18446744073709551616.0)
            return s_fail(r, "value %.17g out of range for %s", dv, tname);
        x = (uint64_t)dv;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] == '-' && s_is_int_text(s, 1))
            return s_fail(r, "value %.60s out of range for %s", s, tname);
        if (!s_is_int_text(s, 0))
            return s_fail(r, "\"%.60s\" is not a valid %s", s, tname);
        errno = 0;
        unsigned long long ull = strtoull(s, NULL, 10);
        if (errno == ERANGE)
            return s_fail(r, "value %.60s out of range for %s", s, tname);
        x = ull;
    } else {
        return s_fail(r, "expected %s (a number), got %s", tname, s_json_kind(v));
    }
    if (x > hi)
        return s_fail(r, "value %" PRIu64 " out of range for %s", x, tname);
    *out = x;
    return 0;
}

static int s_get_double(s_rd_t *r, const json_t *v, int is_float, double *out)
{
    const char *tname = is_float ? "float" : "double";
    double x;
    if (json_is_number(v)) {
        x = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0) {
            x = NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            x = INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            x = -INFINITY;
        } else {
            /* strtod also takes "inf", "nan" and hex: allow decimal text only */
            int ok = *s != '\0';
            for (const char *p = s; *p; p++)
                if (!strchr("0123456789+-.eE", *p))
                    ok = 0;
            char *end = NULL;
            x = ok ? strtod(s, &end) : 0;
            if (!ok || *end != '\0' || isinf(x))
                return s_fail(r, "\"%.60s\" is not a valid %s", s, tname);
        }
    } else {
        return s_fail(r, "expected %s (a number), got %s", tname, s_json_kind(v));
    }
    if (is_float && isfinite(x) && fabs(x) > FLT_MAX)
        return s_fail(r, "value %.17g out of range for float", x);
    *out = x;
    return 0;
}

static int s_read_msg(s_rd_t *r, const ProtobufCMessageDescriptor *desc, const json_t *v,
                      ProtobufCMessage **out);

/* Reads one value of field f (never null) into the storage at p. Strings,
 * bytes and messages stored there are malloc'd. */
static int s_read_value(s_rd_t *r, const ProtobufCFieldDescriptor *f, const json_t *v, void *p)
{
    const char *tname = s_type_name(f->type);
    int64_t i;
    uint64_t u;
    double dv;
    int rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((rc = s_get_int(r, v, INT32_MIN, INT32_MAX, tname, &i)) != 0)
            return rc;
        *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((rc = s_get_uint(r, v, UINT32_MAX, tname, &u)) != 0)
            return rc;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((rc = s_get_int(r, v, INT64_MIN, INT64_MAX, tname, &i)) != 0)
            return rc;
        *(int64_t *)p = i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((rc = s_get_uint(r, v, UINT64_MAX, tname, &u)) != 0)
            return rc;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((rc = s_get_double(r, v, 1, &dv)) != 0)
            return rc;
        *(float *)p = (float)dv;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((rc = s_get_double(r, v, 0, &dv)) != 0)
            return rc;
        *(double *)p = dv;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return s_fail(r, "expected true or false, got %s", s_json_kind(v));
        *(protobuf_c_boolean *)p = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
            if (ev) {
                *(int *)p = ev->value;
                return 0;
            }
            if (!s_is_int_text(s, 1))
                return s_fail(r, "unknown value \"%.60s\" for enum %s", s, ed->name);
        } else if (!json_is_number(v)) {
            return s_fail(r, "expected an enum name of %s, got %s", ed->name, s_json_kind(v));
        }
        if ((rc = s_get_int(r, v, INT32_MIN, INT32_MAX, "enum", &i)) != 0)
            return rc;
        *(int *)p = (int)i;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return s_fail(r, "expected a string, got %s", s_json_kind(v));
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (memchr(s, '\0', n))
            return s_fail(r, "string contains a NUL character");
        char *c = crr_malloc(n + 1);
        if (!c)
            return s_nomem(r);
        memcpy(c, s, n + 1);
        *(char **)p = c;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return s_fail(r, "expected base64 bytes (a string), got %s", s_json_kind(v));
        ProtobufCBinaryData *b = p;
        uint8_t *data;
        size_t n;
        rc = s_b64_decode(json_string_value(v), json_string_length(v), &data, &n);
        if (rc < 0)
            return s_nomem(r);
        if (rc > 0)
            return s_fail(r, "bytes are not valid base64");
        b->data = data;
        b->len = n;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub = NULL;
        if ((rc = s_read_msg(r, f->descriptor, v, &sub)) != 0)
            return rc;
        *(ProtobufCMessage **)p = sub;
        return 0;
    }
    }
    return s_fail(r, "unsupported field type");
}

/* Reads a JSON object into the map field f of message base. */
static int s_read_map(s_rd_t *r, const ProtobufCFieldDescriptor *f,
                      const ProtobufCMessageDescriptor *ed, const json_t *v, char *base)
{
    if (!json_is_object(v))
        return s_fail(r, "expected an object (map), got %s", s_json_kind(v));
    const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
    const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
    size_t n = json_object_size(v);
    if (n == 0)
        return 0;
    ProtobufCMessage **arr = crr_calloc(n, sizeof *arr);
    if (!arr)
        return s_nomem(r);
    size_t *count = (size_t *)(base + f->quantifier_offset);
    *(ProtobufCMessage ***)(base + f->offset) = arr;
    *count = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t old = r->len; /* path becomes field[key] */
        int w = snprintf(r->path + r->len, sizeof r->path - r->len, "[%.60s]", key);
        if (w > 0)
            r->len += (size_t)w;
        if (r->len >= sizeof r->path)
            r->len = sizeof r->path - 1;
        ProtobufCMessage *e = crr_malloc(ed->sizeof_message);
        if (!e)
            return s_nomem(r);
        ed->message_init(e);
        arr[(*count)++] = e; /* owned by the parent from here on */
        char *eb = (char *)e;
        int rc;
        if (kf->type == PROTOBUF_C_TYPE_BOOL) {
            if (strcmp(key, "true") != 0 && strcmp(key, "false") != 0)
                return s_fail(r, "map key must be true or false");
            *(protobuf_c_boolean *)(eb + kf->offset) = strcmp(key, "true") == 0;
        } else {
            json_t *kj = json_string(key);
            if (!kj)
                return s_nomem(r);
            rc = s_read_value(r, kf, kj, eb + kf->offset);
            json_decref(kj);
            if (rc)
                return rc;
        }
        if (json_is_null(val))
            return s_fail(r, "map value may not be null");
        if ((rc = s_read_value(r, vf, val, eb + vf->offset)) != 0)
            return rc;
        s_pop(r, old);
    }
    return 0;
}

static int s_read_repeated(s_rd_t *r, const ProtobufCFieldDescriptor *f, const json_t *v,
                           char *base)
{
    if (!json_is_array(v))
        return s_fail(r, "expected an array, got %s", s_json_kind(v));
    size_t n = json_array_size(v);
    if (n == 0)
        return 0;
    size_t sz = s_elem_size(f->type);
    char *arr = crr_calloc(n, sz);
    if (!arr)
        return s_nomem(r);
    size_t *count = (size_t *)(base + f->quantifier_offset);
    *(char **)(base + f->offset) = arr;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t old = s_push(r, NULL, i);
        json_t *el = json_array_get(v, i);
        if (json_is_null(el))
            return s_fail(r, "null is not allowed in a repeated field");
        int rc = s_read_value(r, f, el, arr + i * sz);
        if (rc)
            return rc;
        *count = i + 1;
        s_pop(r, old);
    }
    return 0;
}

static int s_read_timestamp(s_rd_t *r, const json_t *v, ProtobufCMessage *m)
{
    Google__Protobuf__Timestamp *t = (Google__Protobuf__Timestamp *)m;
    if (!json_is_string(v))
        return s_fail(r, "expected an RFC 3339 timestamp (a string), got %s", s_json_kind(v));
    const char *s = json_string_value(v);
    int64_t sec;
    int32_t nanos;
    if (crr_time_parse(s, 0, &sec, &nanos) != 0)
        return s_fail(r, "\"%.60s\" is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05Z)", s);
    if (sec < S_TS_MIN || sec > S_TS_MAX)
        return s_fail(r, "timestamp \"%.60s\" is outside 0001-01-01..9999-12-31", s);
    t->seconds = sec;
    t->nanos = nanos;
    return 0;
}

static int s_read_fields(s_rd_t *r, const ProtobufCMessageDescriptor *desc, const json_t *v,
                         char *base, unsigned char *seen)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const ProtobufCFieldDescriptor *f = s_find_field(desc, key);
        if (!f) {
            s_push(r, key, 0);
            return s_fail(r, "unknown field \"%.60s\" in %s", key, desc->name);
        }
        size_t old = s_push(r, f->name, 0);
        size_t idx = (size_t)(f - desc->fields);
        if (seen[idx])
            return s_fail(r, "field given twice (as \"%.60s\" and its other spelling)", key);
        seen[idx] = 1;
        if (json_is_null(val)) { /* null means the default */
            s_pop(r, old);
            continue;
        }
        int rc;
        const ProtobufCMessageDescriptor *ed;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            ed = s_map_entry(f);
            rc = ed ? s_read_map(r, f, ed, val, base) : s_read_repeated(r, f, val, base);
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
            if (*cs != 0 && *cs != f->id) {
                const ProtobufCFieldDescriptor *other =
                    protobuf_c_message_descriptor_get_field(desc, *cs);
                return s_fail(r, "only one member of the oneof may be set; %s is already set",
                              other ? other->name : "another");
            }
            rc = s_read_value(r, f, val, base + f->offset);
            if (rc == 0)
                *cs = f->id;
        } else {
            rc = s_read_value(r, f, val, base + f->offset);
            if (rc == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
                f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
                *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
        }
        if (rc)
            return rc;
        s_pop(r, old);
    }
    return 0;
}

static int s_read_msg(s_rd_t *r, const ProtobufCMessageDescriptor *desc, const json_t *v,
                      ProtobufCMessage **out)
{
    *out = NULL;
    unsigned char *seen = NULL;
    int rc;
    ProtobufCMessage *m = crr_malloc(desc->sizeof_message);
    if (!m)
        return s_nomem(r);
    desc->message_init(m);
    char *base = (char *)m;
    switch (s_wkt(desc)) {
    case S_WKT_TIMESTAMP: rc = s_read_timestamp(r, v, m); break;
    case S_WKT_WRAPPER:
        rc = s_read_value(r, &desc->fields[0], v, base + desc->fields[0].offset);
        break;
    default:
        if (!json_is_object(v)) {
            rc = s_fail(r, "expected an object (%s), got %s", desc->name, s_json_kind(v));
            break;
        }
        seen = crr_calloc(desc->n_fields ? desc->n_fields : 1, 1);
        if (!seen) {
            rc = s_nomem(r);
            break;
        }
        rc = s_read_fields(r, desc, v, base, seen);
        break;
    }
    if (rc)
        goto fail;
    free(seen);
    *out = m;
    return 0;
fail:
    free(seen);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int crr_json_to_message(const ProtobufCMessageDescriptor *desc, json_t *in, ProtobufCMessage **out,
                        crr_diag_t *d)
{
    s_rd_t r = {.d = d, .path = "", .len = 0};
    *out = NULL;
    if (!in)
        return s_fail(&r, "no JSON value");
    return s_read_msg(&r, desc, in, out);
}

int crr_json_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                   ProtobufCMessage **out, crr_diag_t *d)
{
    *out = NULL;
    /* nearly every line takes the streaming path; what it declines (any
     * error, anything unusual) is read here, which alone words the errors */
    int fast = crr_json_fast_parse(desc, text, len, out);
    if (fast == 0)
        return 0;
    if (fast == -ENOMEM) {
        if (d)
            crr_diag_set(d, S_MALFORMED, "", "out of memory");
        return -ENOMEM;
    }
    json_error_t e;
    unsigned long nomem = crr_mem_thread_failures();
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!j || crr_mem_thread_failures() != nomem) {
        /* out of memory inside jansson: not the line's fault, it must not be
         * rejected; and jansson's lexer drops a character it could not save
         * and goes on ("09:39" read as "09:9"), so a tree parsed while any
         * allocation failed is not the line either */
        if (crr_mem_thread_failures() != nomem) {
            json_decref(j);
            if (d)
                crr_diag_set(d, S_MALFORMED, "", "out of memory");
            return -ENOMEM;
        }
        if (d) {
            s_utf8_clean(e.text);
            crr_diag_set(d, S_MALFORMED, "", "invalid JSON at column %d: %s", e.column, e.text);
        }
        return CRR_EPARSE;
    }
    int rc = crr_json_to_message(desc, j, out, d);
    json_decref(j);
    return rc;
}
