/* jsonfast: one pass of yajl callbacks that map keys straight to protobuf-c
 * fields (the subset and the contract are in jsonfast.h).
 *
 * Why it is safe to decline so much: json.c runs the jansson path for every
 * declined line, and that path alone defines what a line means and what its
 * error says. This file must only never accept a line that the jansson path
 * would refuse or map differently, so every test here is at least as strict
 * as jansson and json.c's reader:
 *   - before yajl runs, a pre-scan declines any backslash (escapes: jansson
 *     refuses some that yajl would mend, such as a lone surrogate), any
 *     control byte other than tab, CR and LF (yajl takes \v and \f as
 *     whitespace, jansson does not), text that is not valid UTF-8 by RFC 3629
 *     (yajl lets overlong forms and surrogates through), and more than
 *     S_MAX_OPEN '{' or '[' (which bounds yajl's stack, see below);
 *   - numbers are converted as jansson converts them (an integer token is a
 *     signed 64-bit integer, anything with '.', 'e' or 'E' a double); a value
 *     jansson would refuse (overflow) or json.c would map with a rule this
 *     file does not repeat (a real into an integer field) is declined;
 *   - each message keeps the fields seen so far: a key given twice, in either
 *     spelling, is declined, as is a second member of a oneof;
 *   - after the top-level object only whitespace may follow (yajl 2.1 lets
 *     an unfinished token there through), and a top-level Timestamp or
 *     wrapper (a bare value in JSON, never an object) is declined.
 * Messages are built exactly as json.c builds them (crr_malloc'd, each
 * sub-message stored in its parent as soon as it exists), so a declined or
 * failed line is freed with protobuf_c_message_free_unpacked.
 *
 * yajl's own memory: yajl 2.1 does not check its allocations, so it gets
 * none from the heap: its handle, lexer and stack come from a small arena
 * inside this call's frame. With no escapes, a whole line given in one
 * yajl_parse call and at most S_MAX_OPEN levels, yajl never grows a buffer
 * past a few hundred bytes; the arena falls back to malloc only as a
 * safeguard. No state; thread-safe. */
#include "jsonfast.h"

#include "clock.h"
#include "json.h"
#include "mem.h"

#include "google/protobuf/timestamp.pb-c.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* Most '{' and '[' bytes in a line taken here (messages nest 2 deep). */
#define S_MAX_OPEN 16
/* Deepest message nesting followed. */
#define S_MAX_DEPTH 8
/* Bytes of yajl's arena. */
#define S_ARENA 4096
/* Range of google.protobuf.Timestamp (as json.c). */
#define S_TS_MIN (-62135596800LL)
#define S_TS_MAX 253402300799LL

/* One message being filled. */
typedef struct {
    const ProtobufCMessageDescriptor *desc; /* its type */
    char *base;                             /* the message */
    uint64_t seen;                          /* bit i: fields[i] was given */
    const ProtobufCFieldDescriptor *f;      /* the field whose value comes next */
} s_frame_t;

/* yajl's memory: a bump arena; each block is preceded by its size. */
typedef struct {
    _Alignas(16) unsigned char buf[S_ARENA];
    size_t used;
} s_arena_t;

typedef struct {
    s_frame_t st[S_MAX_DEPTH]; /* open messages; st[0] is the root */
    int depth;                 /* how many are open */
    int done;                  /* the root object closed */
    int rc;                    /* why a callback stopped: DECLINED or -ENOMEM */
    ProtobufCMessage *root;    /* the message being built */
    yajl_handle h;             /* the parser (for its position) */
    size_t end;                /* bytes up to the root's closing brace */
    s_arena_t arena;           /* yajl's memory */
} s_ctx_t;

/* ---- yajl's arena ------------------------------------------------------ */

#define S_HDR 16
#define S_HEAP ((size_t)1 << 63) /* a block from malloc, not the arena */

static void *s_a_malloc(void *ud, size_t n)
{
    s_arena_t *a = ud;
    size_t need = S_HDR + ((n + 15) & ~(size_t)15);
    unsigned char *p;
    if (need <= S_ARENA - a->used) {
        p = a->buf + a->used;
        a->used += need;
        *(size_t *)p = n;
    } else {
        if (!(p = malloc(S_HDR + n)))
            return NULL;
        *(size_t *)p = n | S_HEAP;
    }
    return p + S_HDR;
}

static void s_a_free(void *ud, void *ptr)
{
    (void)ud;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - S_HDR;
    if (*(size_t *)p & S_HEAP)
        free(p);
}

static void *s_a_realloc(void *ud, void *ptr, size_t n)
{
    if (!ptr)
        return s_a_malloc(ud, n);
    size_t old = *(size_t *)((unsigned char *)ptr - S_HDR) & ~S_HEAP;
    void *q = s_a_malloc(ud, n);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < n ? old : n);
    s_a_free(ud, ptr);
    return q;
}

/* ---- helpers ------------------------------------------------------------ */

static int s_decline(s_ctx_t *c)
{
    c->rc = CRR_JSONFAST_DECLINED;
    return 0;
}

static int s_nomem(s_ctx_t *c)
{
    c->rc = -ENOMEM;
    return 0;
}

/* Whether key[0..len) is the proto name `name`. */
static int s_is_name(const char *name, const unsigned char *key, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] != key[i])
            return 0; /* also at name's NUL: keys hold no NUL (the pre-scan) */
    return name[len] == '\0';
}

/* Whether key[0..len) is the lowerCamelCase JSON name of proto name `name`
 * (json.c's s_json_name, compared without building it). */
static int s_is_json_name(const char *name, const unsigned char *key, size_t len)
{
    size_t o = 0;
    int up = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        char want = (up && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        up = 0;
        if (o >= len || (char)key[o] != want)
            return 0;
        o++;
    }
    return o == len;
}

/* The field key names in desc, as json.c's s_find_field finds it. */
static const ProtobufCFieldDescriptor *s_field(const ProtobufCMessageDescriptor *desc,
                                               const unsigned char *key, size_t len)
{
    /* a proto name wins over a JSON name (json.c asks protobuf-c for the
     * proto name first); the first byte is compared inline, as both
     * spellings share it (names begin with a letter) */
    if (len == 0)
        return NULL;
    const ProtobufCFieldDescriptor *json = NULL;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const char *name = desc->fields[i].name;
        if ((unsigned char)name[0] != key[0])
            continue;
        if (s_is_name(name, key, len))
            return &desc->fields[i];
        if (!json && s_is_json_name(name, key, len))
            json = &desc->fields[i];
    }
    return json;
}

/* The open message and its pending field, or NULL when no value is
 * expected here (a value at the top level). */
static s_frame_t *s_top(s_ctx_t *c)
{
    return c->depth > 0 && c->st[c->depth - 1].f ? &c->st[c->depth - 1] : NULL;
}

/* Claims the oneof case of fr->f when it has one. 0, or declines. */
static int s_oneof(s_ctx_t *c, s_frame_t *fr)
{
    const ProtobufCFieldDescriptor *f = fr->f;
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return 1;
    uint32_t *cs = (uint32_t *)(fr->base + f->quantifier_offset);
    if (*cs != 0 && *cs != f->id)
        return s_decline(c);
    *cs = f->id;
    return 1;
}

/* A scalar field was set: its has-flag, as json.c sets it. */
static void s_set_has(s_frame_t *fr)
{
    const ProtobufCFieldDescriptor *f = fr->f;
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
        f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)(fr->base + f->quantifier_offset) = 1;
    fr->f = NULL;
}

/* text[0..len) as a NUL-terminated copy in buf (cap bytes), or 0 when it
 * does not fit. */
static int s_copy(char *buf, size_t cap, const void *text, size_t len)
{
    if (len >= cap)
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return 1;
}

/* Stores a signed value into an integer field, range-checked as json.c. */
static int s_store_int(s_ctx_t *c, s_frame_t *fr, int64_t x)
{
    char *p = fr->base + fr->f->offset;
    switch (fr->f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (x < INT32_MIN || x > INT32_MAX)
            return s_decline(c);
        *(int32_t *)p = (int32_t)x;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (x < 0 || x > (int64_t)UINT32_MAX)
            return s_decline(c);
        *(uint32_t *)p = (uint32_t)x;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: *(int64_t *)p = x; break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (x < 0)
            return s_decline(c);
        *(uint64_t *)p = (uint64_t)x;
        break;
    default: return s_decline(c);
    }
    s_set_has(fr);
    return 1;
}

/* ---- callbacks ---------------------------------------------------------- */

static int s_null(void *ud)
{
    return s_decline(ud); /* json.c's rules for null are left to it */
}

static int s_array(void *ud)
{
    return s_decline(ud); /* repeated fields and maps: json.c */
}

static int s_boolean(void *ud, int v)
{
    s_ctx_t *c = ud;
    s_frame_t *fr = s_top(c);
    if (!fr || fr->f->type != PROTOBUF_C_TYPE_BOOL || fr->f->label == PROTOBUF_C_LABEL_REPEATED ||
        !s_oneof(c, fr))
        return s_decline(c);
    *(protobuf_c_boolean *)(fr->base + fr->f->offset) = v ? 1 : 0;
    s_set_has(fr);
    return 1;
}

static int s_number(void *ud, const char *text, size_t len)
{
    s_ctx_t *c = ud;
    s_frame_t *fr = s_top(c);
    char buf[64];
    if (!fr || fr->f->label == PROTOBUF_C_LABEL_REPEATED || !s_copy(buf, sizeof buf, text, len))
        return s_decline(c);
    int is_int = strpbrk(buf, ".eE") == NULL; /* jansson's rule */
    ProtobufCType t = fr->f->type;
    if (t == PROTOBUF_C_TYPE_FLOAT || t == PROTOBUF_C_TYPE_DOUBLE) {
        double x;
        char *end = NULL;
        errno = 0;
        if (is_int) {
            long long ll = strtoll(buf, &end, 10);
            if (errno == ERANGE || *end)
                return s_decline(c);
            x = (double)ll;
        } else {
            /* a whole read, or declined (a locale whose decimal point is
             * not '.' would stop strtod early; jansson copes with that) */
            x = strtod(buf, &end);
            if (errno == ERANGE || *end || !isfinite(x))
                return s_decline(c);
        }
        if (!s_oneof(c, fr))
            return 0;
        if (t == PROTOBUF_C_TYPE_FLOAT) {
            if (fabs(x) > FLT_MAX)
                return s_decline(c);
            *(float *)(fr->base + fr->f->offset) = (float)x;
        } else {
            *(double *)(fr->base + fr->f->offset) = x;
        }
        s_set_has(fr);
        return 1;
    }
    if (!is_int || t == PROTOBUF_C_TYPE_ENUM || t == PROTOBUF_C_TYPE_BOOL)
        return s_decline(c); /* reals into integers, enum numbers: json.c */
    errno = 0;
    char *end = NULL;
    long long ll = strtoll(buf, &end, 10);
    if (errno == ERANGE || *end || !s_oneof(c, fr))
        return s_decline(c);
    return s_store_int(c, fr, ll);
}

/* A string value: string, enum name, 64-bit integer text or Timestamp. */
static int s_string(void *ud, const unsigned char *s, size_t len)
{
    s_ctx_t *c = ud;
    s_frame_t *fr = s_top(c);
    if (!fr || fr->f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_decline(c);
    const ProtobufCFieldDescriptor *f = fr->f;
    char *p = fr->base + f->offset;
    char buf[128];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        if (memchr(s, '\0', len) || !s_oneof(c, fr))
            return s_decline(c);
        char *copy = crr_malloc(len + 1);
        if (!copy)
            return s_nomem(c);
        memcpy(copy, s, len);
        copy[len] = '\0';
        *(char **)p = copy;
        s_set_has(fr);
        return 1;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev;
        if (!s_copy(buf, sizeof buf, s, len) ||
            !(ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, buf)) ||
            !s_oneof(c, fr))
            return s_decline(c);
        *(int *)p = ev->value;
        s_set_has(fr);
        return 1;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        /* decimal digits, '-' first only for the signed types */
        int neg = len > 0 && s[0] == '-';
        int is_signed = f->type != PROTOBUF_C_TYPE_UINT64 && f->type != PROTOBUF_C_TYPE_FIXED64;
        if (len == (size_t)neg || (neg && !is_signed) || len > 20)
            return s_decline(c);
        for (size_t i = (size_t)neg; i < len; i++)
            if (s[i] < '0' || s[i] > '9')
                return s_decline(c);
        s_copy(buf, sizeof buf, s, len);
        errno = 0;
        if (!is_signed) {
            unsigned long long u = strtoull(buf, NULL, 10);
            if (errno == ERANGE || !s_oneof(c, fr))
                return s_decline(c);
            *(uint64_t *)p = u;
            s_set_has(fr);
            return 1;
        }
        long long ll = strtoll(buf, NULL, 10);
        if (errno == ERANGE || !s_oneof(c, fr))
            return s_decline(c);
        return s_store_int(c, fr, ll);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (f->descriptor != &google__protobuf__timestamp__descriptor)
            return s_decline(c); /* wrappers and the rest: json.c */
        int64_t sec;
        int32_t nanos;
        if (!s_copy(buf, sizeof buf, s, len) || crr_time_parse(buf, 0, &sec, &nanos) != 0 ||
            sec < S_TS_MIN || sec > S_TS_MAX || !s_oneof(c, fr))
            return s_decline(c);
        Google__Protobuf__Timestamp *t = crr_malloc(sizeof *t);
        if (!t)
            return s_nomem(c);
        google__protobuf__timestamp__init(t);
        t->seconds = sec;
        t->nanos = nanos;
        *(ProtobufCMessage **)p = &t->base;
        fr->f = NULL;
        return 1;
    }
    default: return s_decline(c);
    }
}

/* Whether desc is a google.protobuf type (Timestamp, a wrapper, ...): those
 * have special JSON forms, left to json.c. */
static int s_is_wkt(const ProtobufCMessageDescriptor *desc)
{
    return strncmp(desc->name, "google.protobuf.", 16) == 0;
}

static int s_start_map(void *ud)
{
    s_ctx_t *c = ud;
    const ProtobufCMessageDescriptor *desc;
    ProtobufCMessage **slot = NULL;
    if (c->depth == 0) {
        desc = c->st[0].desc;
        if (c->root || c->done || s_is_wkt(desc))
            return s_decline(c); /* a top-level Timestamp or wrapper is no object */
    } else {
        s_frame_t *fr = s_top(c);
        if (!fr || fr->f->type != PROTOBUF_C_TYPE_MESSAGE ||
            fr->f->label == PROTOBUF_C_LABEL_REPEATED || c->depth >= S_MAX_DEPTH)
            return s_decline(c);
        desc = fr->f->descriptor;
        if (s_is_wkt(desc) || !s_oneof(c, fr))
            return s_decline(c); /* Timestamp and wrappers are not objects */
        slot = (ProtobufCMessage **)(fr->base + fr->f->offset);
        fr->f = NULL;
    }
    if (desc->n_fields > 64)
        return s_decline(c);
    ProtobufCMessage *m = crr_malloc(desc->sizeof_message);
    if (!m)
        return s_nomem(c);
    desc->message_init(m);
    if (slot)
        *slot = m; /* owned by the parent from here on */
    else
        c->root = m;
    c->st[c->depth++] = (s_frame_t){.desc = desc, .base = (char *)m};
    return 1;
}

static int s_map_key(void *ud, const unsigned char *key, size_t len)
{
    s_ctx_t *c = ud;
    s_frame_t *fr = &c->st[c->depth - 1];
    const ProtobufCFieldDescriptor *f = s_field(fr->desc, key, len);
    if (!f)
        return s_decline(c);
    uint64_t bit = (uint64_t)1 << (f - fr->desc->fields);
    if (fr->seen & bit)
        return s_decline(c);
    fr->seen |= bit;
    fr->f = f;
    return 1;
}

static int s_end_map(void *ud)
{
    s_ctx_t *c = ud;
    if (c->st[c->depth - 1].f)
        return s_decline(c);
    if (--c->depth == 0) {
        c->done = 1;
        /* yajl 2.1 takes an unfinished token after the value ("{}\"b") at
         * yajl_complete_parse: what follows the root must be checked here */
        c->end = yajl_get_bytes_consumed(c->h);
    }
    return 1;
}

static const yajl_callbacks s_cb = {
    .yajl_null = s_null,
    .yajl_boolean = s_boolean,
    .yajl_number = s_number,
    .yajl_string = s_string,
    .yajl_start_map = s_start_map,
    .yajl_map_key = s_map_key,
    .yajl_end_map = s_end_map,
    .yajl_start_array = s_array,
    .yajl_end_array = s_array,
};

/* The pre-scan (see the top of this file). 1 when yajl may see the text. */
static int s_plain(const char *text, size_t len)
{
    int high = 0, open = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        if (__builtin_expect(b >= 0x20 && b < 0x80 && b != '\\' && b != '{' && b != '[', 1))
            continue;
        if (b >= 0x80)
            high = 1;
        else if (b == '{' || b == '[')
            open++;
        else if (b != '\t' && b != '\r' && b != '\n')
            return 0; /* a backslash or another control byte */
    }
    return open <= S_MAX_OPEN && (!high || crr_json_is_utf8(text, len));
}

/* Whether s[0..len) holds anything but JSON whitespace. */
static int s_trailing(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 1;
    return 0;
}

int crr_json_fast_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        ProtobufCMessage **out)
{
    *out = NULL;
    if (!s_plain(text, len))
        return CRR_JSONFAST_DECLINED;
    s_ctx_t c;
    c.depth = 0;
    c.done = 0;
    c.rc = 0;
    c.root = NULL;
    c.st[0].desc = desc;
    c.arena.used = 0;
    yajl_alloc_funcs af = {s_a_malloc, s_a_realloc, s_a_free, &c.arena};
    yajl_handle h = yajl_alloc(&s_cb, &af, &c);
    if (!h)
        return CRR_JSONFAST_DECLINED;
    c.h = h;
    c.end = 0;
    yajl_config(h, yajl_dont_validate_strings, 1); /* the pre-scan checked UTF-8 */
    yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    if (st == yajl_status_ok && c.done && c.rc == 0 && c.end <= len &&
        !s_trailing(text + c.end, len - c.end)) {
        *out = c.root;
        return 0;
    }
    if (c.root)
        protobuf_c_message_free_unpacked(c.root, NULL);
    return c.rc == -ENOMEM ? -ENOMEM : CRR_JSONFAST_DECLINED;
}
