/* gencsv: Events -> CSV rows (rules in gencsv.h).
 * Owns: the column list (from the Event descriptor, so a field added to the
 * .proto gets its column) and one value -> one cell. Does not own: what the
 * cells mean when read back (common/csvin.c), generating events (tools/gen). */
#include "gencsv.h"

#include "clock.h"
#include "err.h"
#include "json.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_COLS 64   /* the CSV reader's limit too */
#define S_MAX_BODIES 32 /* body fields of Event (ids 10..) */
#define S_ENVELOPE 4    /* type, borough, occurred_at, record_id */

struct crr_gencsv {
    const char *cols[S_MAX_COLS]; /* column names (descriptor strings) */
    size_t ncols;
    const ProtobufCFieldDescriptor *body[S_MAX_BODIES];           /* Event's body fields */
    const ProtobufCFieldDescriptor *fd[S_MAX_BODIES][S_MAX_COLS]; /* column -> field */
    size_t nbodies;
};

/* Adds name as a column unless it is one already. 0 or CRR_EINVAL (too many). */
static int s_add_col(crr_gencsv_t *w, const char *name)
{
    for (size_t i = 0; i < w->ncols; i++)
        if (strcmp(w->cols[i], name) == 0)
            return 0;
    if (w->ncols >= S_MAX_COLS)
        return CRR_EINVAL;
    w->cols[w->ncols++] = name;
    return 0;
}

int crr_gencsv_new(int (*has_type)(const void *ud, int body_case), const void *ud,
                   crr_gencsv_t **out)
{
    static const char *const env[S_ENVELOPE] = {"type", "borough", "occurred_at", "record_id"};
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    crr_gencsv_t *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    for (size_t i = 0; i < S_ENVELOPE; i++)
        w->cols[w->ncols++] = env[i];
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *b = &ed->fields[i];
        if (!(b->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || !has_type(ud, (int)b->id))
            continue;
        if (w->nbodies >= S_MAX_BODIES)
            return free(w), CRR_EINVAL;
        w->body[w->nbodies++] = b;
        const ProtobufCMessageDescriptor *md = b->descriptor;
        for (unsigned k = 0; k < md->n_fields; k++)
            if (s_add_col(w, md->fields[k].name) != 0)
                return free(w), CRR_EINVAL;
    }
    for (size_t b = 0; b < w->nbodies; b++)
        for (size_t c = S_ENVELOPE; c < w->ncols; c++)
            w->fd[b][c] =
                protobuf_c_message_descriptor_get_field_by_name(w->body[b]->descriptor, w->cols[c]);
    *out = w;
    return 0;
}

void crr_gencsv_free(crr_gencsv_t **wp)
{
    if (!wp || !*wp)
        return;
    free(*wp);
    *wp = NULL;
}

/* Writes text as a cell (quoted only when the reader needs it) and then sep. */
static int s_cell(FILE *out, const char *text, int sep)
{
    size_t n = strlen(text);
    int quote =
        strpbrk(text, ",\"\r\n") != NULL ||
        (n && (text[0] == ' ' || text[0] == '\t' || text[n - 1] == ' ' || text[n - 1] == '\t'));
    if (quote ? csv_fwrite(out, text, n) != 0 : fputs(text, out) == EOF)
        return EOF;
    return fputc(sep, out) == EOF ? EOF : 0;
}

/* The text of field f of message m: numbers and booleans always (0, false),
 * "" for an empty string or enum 0 (which has no name the reader takes). */
static const char *s_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                           size_t len)
{
    const void *p = (const char *)m + f->offset;
    buf[0] = '\0';
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s ? s : "";
    }
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)p ? "true" : "false";
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            v ? protobuf_c_enum_descriptor_get_value(f->descriptor, v) : NULL;
        if (ev)
            return ev->name;
        if (v)
            snprintf(buf, len, "%d", v);
        return buf;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = *(const double *)p;
        return crr_double_text(d, buf, len);
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float d = *(const float *)p;
        return crr_double_text(d, buf, len);
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        uint32_t u = *(const uint32_t *)p;
        snprintf(buf, len, "%" PRIu32, u);
        return buf;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)p;
        snprintf(buf, len, "%" PRIu64, u);
        return buf;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t s = *(const int64_t *)p;
        snprintf(buf, len, "%" PRId64, s);
        return buf;
    }
    default: { /* int32, sint32, sfixed32 */
        int32_t s = *(const int32_t *)p;
        snprintf(buf, len, "%" PRId32, s);
        return buf;
    }
    }
}

int crr_gencsv_header(const crr_gencsv_t *w, FILE *out)
{
    for (size_t i = 0; i < w->ncols; i++)
        if (s_cell(out, w->cols[i], i + 1 < w->ncols ? ',' : '\n') != 0)
            return EOF;
    return 0;
}

int crr_gencsv_row(const crr_gencsv_t *w, const Crrmon__V1__Event *e, FILE *out)
{
    size_t b = 0;
    while (b < w->nbodies && (int)w->body[b]->id != (int)e->body_case)
        b++;
    if (b == w->nbodies)
        return CRR_EINVAL;
    const ProtobufCMessage *m =
        *(const ProtobufCMessage *const *)((const char *)e + w->body[b]->offset);
    char when[40] = "", buf[64];
    if (e->occurred_at)
        crr_time_format(e->occurred_at->seconds, e->occurred_at->nanos, when, sizeof when);
    const char *env[S_ENVELOPE] = {w->body[b]->name, e->borough ? e->borough : "", when,
                                   e->record_id ? e->record_id : ""};
    for (size_t c = 0; c < w->ncols; c++) {
        const ProtobufCFieldDescriptor *f = c < S_ENVELOPE ? NULL : w->fd[b][c];
        const char *v = c < S_ENVELOPE ? env[c] : f && m ? s_value(m, f, buf, sizeof buf) : "";
        if (s_cell(out, v, c + 1 < w->ncols ? ',' : '\n') != 0)
            return EOF;
    }
    return 0;
}
