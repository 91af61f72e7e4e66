/* csvin: CSV records -> validated Events (rules in csvin.h).
 * Owns: joining physical lines into records (quote state), the header and
 * its columns, one cell -> one JSON value by the field's descriptor, and the
 * problems of a record. Does not own: the JSON -> Event mapping
 * (crr_json_to_message) or the rules (crr_validate_event_all), which it
 * calls so CSV and JSON Lines cannot drift; plain records take csvfast.c's
 * path to the same message (jsonfast, no jansson tree), the others and
 * every problem the jansson one. The file iterator is getline over these. Invariants: a record is
 * fed to libcsv only once its quotes are balanced; nothing is given out before the header is
 * accepted. */
#include "csvin.h"

#include "codec.h"
#include "csvfast.h"
#include "json.h"
#include "jsonfast.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define S_MAX_COLS 64
#define S_MAX_BODIES 32 /* fields of Event (bodies among them) */
#define S_MALFORMED CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED

enum { S_LONG_NO, S_LONG_RECORD, S_LONG_LINE }; /* why an open record is too long */

enum { S_COL_TYPE, S_COL_BOROUGH, S_COL_OCCURRED, S_COL_RECORD, S_COL_BODY };

typedef struct {
    char name[64]; /* as in the header, lower case */
    int kind;      /* S_COL_* */
} s_col_t;

struct crr_csvin {
    char file[256];
    const char *base; /* base name in file */
    size_t max_record;
    char *rec; /* the open record's bytes so far (lines joined by '\n') */
    size_t rlen, rcap;
    int pending;       /* a record is open */
    int inq;           /* its text so far ends inside a quoted cell */
    uint64_t rec_line; /* its first line */
    uint64_t last;     /* the last line fed to it */
    int toolong;       /* S_LONG_*: it is rejected at its end; its text stopped growing */
    uint64_t long_at;  /* the line where it became too long */
    int have_header, bad;
    crr_problems_t badp; /* why the file was refused */
    s_col_t cols[S_MAX_COLS];
    size_t ncols;
    int type_col;                          /* index of `type`, or -1 */
    const ProtobufCFieldDescriptor *ftype; /* body from the file name, or NULL */
    /* column -> field of each body type (by its index in Event's fields),
     * filled on the first record of that type: a mixed file changes type at
     * almost every record */
    unsigned char fd_done[S_MAX_BODIES];
    crr_csvfast_col_t fcols[S_MAX_BODIES][S_MAX_COLS];
    int fast_off; /* tests: always the jansson path */
    /* the cells of the record being split (libcsv callbacks): their text
     * back to back in cbuf (each NUL-terminated), at coff[i] */
    char *cells[S_MAX_COLS + 1];
    size_t coff[S_MAX_COLS + 1];
    char *cbuf;
    size_t cblen, cbcap;
    size_t ncells, extra;
    int oom, nul; /* a copy failed; a cell held a NUL byte */
};

/* ---- small helpers ---- */

static const ProtobufCFieldDescriptor *s_body(const char *name, size_t len)
{
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->id >= 10 && strlen(f->name) == len &&
            strncmp(f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

static const ProtobufCFieldDescriptor *s_field_of(const ProtobufCFieldDescriptor *body,
                                                  const char *name)
{
    const ProtobufCMessageDescriptor *md = body->descriptor;
    for (unsigned i = 0; i < md->n_fields; i++)
        if (strcmp(md->fields[i].name, name) == 0)
            return &md->fields[i];
    return NULL;
}

/* Whether some body type has a field called name. */
static int s_any_body_has(const char *name)
{
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    for (unsigned i = 0; i < ed->n_fields; i++)
        if (ed->fields[i].type == PROTOBUF_C_TYPE_MESSAGE && ed->fields[i].id >= 10 &&
            s_field_of(&ed->fields[i], name))
            return 1;
    return 0;
}

/* The type a base name begins with ("stop_search-2026-11.csv"), or NULL. */
static const ProtobufCFieldDescriptor *s_type_from_name(const char *base)
{
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    const ProtobufCFieldDescriptor *best = NULL;
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        size_t n = strlen(f->name);
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->id < 10 || strncmp(base, f->name, n) != 0 ||
            isalpha((unsigned char)base[n]))
            continue;
        if (!best || n > strlen(best->name))
            best = f;
    }
    return best;
}

int crr_csvin_is_csv_name(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".csv") == 0;
}

/* ---- lifecycle ---- */

int crr_csvin_new(const char *file, size_t max_record, crr_csvin_t **out)
{
    crr_csvin_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    snprintf(c->file, sizeof c->file, "%s", file ? file : "");
    const char *slash = strrchr(c->file, '/');
    c->base = slash ? slash + 1 : c->file;
    c->max_record = max_record ? max_record : CRR_CSVIN_MAX_RECORD;
    c->type_col = -1;
    *out = c;
    return 0;
}

static void s_cells_clear(crr_csvin_t *c)
{
    c->ncells = c->extra = 0;
    c->cblen = 0;
    c->oom = c->nul = 0;
}

void crr_csvin_free(crr_csvin_t **cp)
{
    if (!cp || !*cp)
        return;
    free((*cp)->cbuf);
    free((*cp)->rec);
    free(*cp);
    *cp = NULL;
}

const char *crr_csvin_record_text(const crr_csvin_t *c, size_t *len)
{
    size_t n = c->rlen;
    if (n && c->rec[n - 1] == '\r')
        n--;
    *len = n;
    return n ? c->rec : "";
}

int crr_csvin_pending(const crr_csvin_t *c)
{
    return c->pending;
}

void crr_csvin_reset_record(crr_csvin_t *c)
{
    c->pending = 0;
    c->rlen = 0;
    c->toolong = S_LONG_NO;
}

void crr_csvin_set_fast(crr_csvin_t *c, int on)
{
    c->fast_off = !on;
}

int crr_csvin_has_header(const crr_csvin_t *c)
{
    return c->have_header;
}

/* ---- splitting a record into cells (libcsv, strict) ---- */

static void s_on_cell(void *s, size_t len, void *ud)
{
    crr_csvin_t *c = ud;
    if (c->ncells >= S_MAX_COLS) {
        c->extra++;
        return;
    }
    if (len && memchr(s, '\0', len))
        c->nul = 1; /* a C string would cut the cell there: a problem, not a silent cut */
    if (c->cblen + len + 1 > c->cbcap) {
        size_t cap = c->cbcap ? c->cbcap : 512;
        while (cap < c->cblen + len + 1)
            cap *= 2;
        char *b = realloc(c->cbuf, cap);
        if (!b) {
            c->oom = 1;
            return;
        }
        c->cbuf = b;
        c->cbcap = cap;
    }
    if (len)
        memcpy(c->cbuf + c->cblen, s, len);
    c->cbuf[c->cblen + len] = '\0';
    c->coff[c->ncells++] = c->cblen;
    c->cblen += len + 1;
}

static void s_on_row(int ch, void *ud)
{
    (void)ch;
    (void)ud;
}

static int s_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* libcsv's split (strict, default options) of a record with no quote, CR or
 * LF, done without it: the same cells, given to s_on_cell the same way.
 * libcsv skips spaces and tabs before a cell, ends it at a comma, drops the
 * spaces and tabs before that comma, and at the end of the input gives one
 * last (maybe empty) cell unless nothing but spaces came at all. */
static void s_split_plain(crr_csvin_t *c, const char *rec, size_t len)
{
    size_t i = 0;
    for (int first = 1;; first = 0) {
        while (i < len && s_blank(rec[i]))
            i++;
        if (i == len && first)
            return; /* libcsv: the row never began */
        const char *comma = memchr(rec + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - rec) : len, n = end - i;
        while (n && s_blank(rec[i + n - 1]))
            n--;
        s_on_cell((void *)(rec + i), n, c);
        if (!comma)
            return;
        i = end + 1;
    }
}

/* Splits rec[0..len) into c->cells. Returns 0, -ENOMEM, or CRR_EPARSE with
 * libcsv's reason in *why. */
static int s_split(crr_csvin_t *c, const char *rec, size_t len, const char **why)
{
    s_cells_clear(c);
    if (!c->fast_off && !memchr(rec, '"', len) && !memchr(rec, '\r', len) &&
        !memchr(rec, '\n', len)) {
        s_split_plain(c, rec, len);
        for (size_t i = 0; i < c->ncells && !c->oom; i++)
            c->cells[i] = c->cbuf + c->coff[i];
        return c->oom ? -ENOMEM : 0;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return -ENOMEM;
    int rc = 0;
    if (csv_parse(&p, rec, len, s_on_cell, s_on_row, c) != len ||
        csv_fini(&p, s_on_cell, s_on_row, c) != 0) {
        *why = csv_strerror(csv_error(&p));
        rc = CRR_EPARSE;
    }
    csv_free(&p);
    if (c->oom)
        rc = -ENOMEM;
    for (size_t i = 0; i < c->ncells && !c->oom; i++) /* cbuf has stopped moving */
        c->cells[i] = c->cbuf + c->coff[i];
    return rc;
}

/* ---- the header ---- */

static int s_bad(crr_csvin_t *c, crr_problems_t *p)
{
    c->bad = 1;
    c->badp = *p;
    return CRR_CSVIN_BADFILE;
}

/* The kind of column `name` (lower case), or -1 when no column may be called so. */
static int s_kind(const crr_csvin_t *c, const char *name)
{
    if (strcmp(name, "type") == 0)
        return S_COL_TYPE;
    if (strcmp(name, "borough") == 0)
        return S_COL_BOROUGH;
    if (strcmp(name, "occurred_at") == 0)
        return S_COL_OCCURRED;
    if (strcmp(name, "record_id") == 0)
        return S_COL_RECORD;
    if (c->ftype ? s_field_of(c->ftype, name) != NULL : s_any_body_has(name))
        return S_COL_BODY;
    return -1;
}

/* Accepts the header in c->cells, or refuses the file (p). */
static int s_header(crr_csvin_t *c, crr_problems_t *p)
{
    const char *F = c->file;
    uint64_t L = c->rec_line;
    if (c->extra)
        return crr_problems_add(p, F, L, S_MALFORMED, "", "", "the header has more than %d columns",
                                S_MAX_COLS),
               s_bad(c, p);
    for (size_t i = 0; i < c->ncells; i++)
        if (strcasecmp(c->cells[i], "type") == 0)
            c->type_col = (int)i;
    if (c->type_col < 0 && !(c->ftype = s_type_from_name(c->base)))
        return crr_problems_add(p, F, L, S_MALFORMED, "type", "",
                                "the file has no `type` column and its name \"%.100s\" does not "
                                "begin with an event type (stop_search-2026-11.csv): the type of "
                                "its records is unknown",
                                c->base),
               s_bad(c, p);
    for (size_t i = 0; i < c->ncells; i++) {
        s_col_t *col = &c->cols[i];
        size_t n = strlen(c->cells[i]);
        if (n >= sizeof col->name)
            n = sizeof col->name - 1;
        for (size_t k = 0; k < n; k++)
            col->name[k] = (char)tolower((unsigned char)c->cells[i][k]);
        col->name[n] = '\0';
        col->kind = s_kind(c, col->name);
        for (size_t j = 0; j < i && col->kind >= 0; j++)
            if (strcmp(c->cols[j].name, col->name) == 0)
                return crr_problems_add(p, F, L, S_MALFORMED, col->name, col->name,
                                        "column \"%s\" appears twice (columns %zu and %zu)",
                                        col->name, j + 1, i + 1),
                       s_bad(c, p);
        if (col->kind < 0 && !col->name[0])
            return crr_problems_add(p, F, L, S_MALFORMED, "", "",
                                    "column %zu has no name in the header (a trailing comma?); "
                                    "the whole file is refused, nothing of it was sent",
                                    i + 1),
                   s_bad(c, p);
        if (col->kind < 0)
            return crr_problems_add(
                       p, F, L, S_MALFORMED, "", c->cells[i],
                       "unknown column \"%.60s\" (column %zu): allowed are type, borough, "
                       "occurred_at, record_id and the fields of %s by their proto names; the "
                       "whole file is refused, nothing of it was sent",
                       c->cells[i], i + 1, c->ftype ? c->ftype->name : "the event types"),
                   s_bad(c, p);
    }
    c->ncols = c->ncells;
    c->have_header = 1;
    return CRR_CSVIN_HEADER;
}

/* ---- one cell -> one JSON value ---- */

/* A cell of field f (of body `type`) that is not of its type: the problem,
 * naming the field's path and the value. Returns NULL. */
static json_t *s_cell_bad(const crr_csvin_t *c, const ProtobufCFieldDescriptor *type,
                          const ProtobufCFieldDescriptor *f, const char *v, const char *want,
                          crr_problems_t *p)
{
    char path[160];
    snprintf(path, sizeof path, "%s.%s", type->name, f->name);
    crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, path, v, "%s is \"%.40s\"%s", path, v,
                     want);
    return NULL;
}

/* Cell v of body field f as a JSON value, or NULL with a problem added. */
static json_t *s_cell(const crr_csvin_t *c, const ProtobufCFieldDescriptor *type,
                      const ProtobufCFieldDescriptor *f, const char *v, crr_problems_t *p)
{
    char *end, want[160];
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: return json_string(v);
    case PROTOBUF_C_TYPE_BOOL: {
        int b;
        if (crr_csvfast_bool(v, &b) == 0)
            return json_boolean(b);
        return s_cell_bad(c, type, f, v, "; must be true/false, 1/0 or yes/no", p);
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = crr_csvfast_enum(f->descriptor, v);
        if (ev)
            return json_string(ev->name);
        snprintf(want, sizeof want, ", which is no %s value (full or short name, or number)",
                 ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
        return s_cell_bad(c, type, f, v, want, p);
    }
    case PROTOBUF_C_TYPE_DOUBLE:
    case PROTOBUF_C_TYPE_FLOAT: {
        double d = strtod(v, &end);
        if (!*end && !errno && isfinite(d))
            return json_real(d);
        return s_cell_bad(c, type, f, v, "; must be a decimal number", p);
    }
    case PROTOBUF_C_TYPE_UINT32: {
        unsigned long long u = strtoull(v, &end, 10);
        if (isdigit((unsigned char)v[0]) && !*end && !errno && u <= UINT32_MAX)
            return json_integer((json_int_t)u);
        return s_cell_bad(c, type, f, v, "; must be a whole number 0..4294967295", p);
    }
    default: {
        long long s = strtoll(v, &end, 10);
        if (*v && !*end && !errno)
            return json_integer((json_int_t)s);
        return s_cell_bad(c, type, f, v, "; must be a whole number", p);
    }
    }
}

/* The columns as seen by a record of body `type` (cached per type: a mixed
 * file changes type at almost every record). NULL when the cache cannot
 * hold the type (then s_col_field looks fields up each time). */
static const crr_csvfast_col_t *s_type_cols(crr_csvin_t *c, const ProtobufCFieldDescriptor *type)
{
    size_t t = (size_t)(type - crrmon__v1__event__descriptor.fields);
    if (t >= S_MAX_BODIES)
        return NULL;
    crr_csvfast_col_t *fc = c->fcols[t];
    if (!c->fd_done[t]) {
        for (size_t k = 0; k < c->ncols; k++) {
            int kind = c->cols[k].kind;
            fc[k].key = c->cols[k].name;
            fc[k].kind = kind == S_COL_TYPE   ? CRR_CSVFAST_SKIP
                         : kind == S_COL_BODY ? CRR_CSVFAST_BODY
                                              : CRR_CSVFAST_ENV;
            fc[k].f = kind == S_COL_BODY   ? s_field_of(type, c->cols[k].name)
                      : kind == S_COL_TYPE ? NULL
                                           : protobuf_c_message_descriptor_get_field_by_name(
                                                 &crrmon__v1__event__descriptor, c->cols[k].name);
        }
        c->fd_done[t] = 1;
    }
    return fc;
}

/* The field of body `type` that column i names, or NULL. */
static const ProtobufCFieldDescriptor *s_col_field(crr_csvin_t *c,
                                                   const ProtobufCFieldDescriptor *type, size_t i)
{
    const crr_csvfast_col_t *fc = s_type_cols(c, type);
    return fc ? fc[i].f : s_field_of(type, c->cols[i].name);
}

/* ---- one record -> one Event ---- */

/* The cell text of the column a validation problem's field names, or "". */
static const char *s_value_of(const crr_csvin_t *c, const char *field)
{
    const char *dot = strchr(field, '.');
    const char *name = dot ? dot + 1 : field;
    for (size_t i = 0; i < c->ncols && i < c->ncells; i++)
        if (strcmp(c->cols[i].name, name) == 0)
            return c->cells[i];
    return "";
}

/* Whether p already holds a problem for field (a cell that did not convert). */
static int s_has_field(const crr_problems_t *p, size_t upto, const char *field)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(p->d[i].field, field) == 0)
            return 1;
    return 0;
}

/* The record's type (from its cell or the file name), or NULL with a problem. */
static const ProtobufCFieldDescriptor *s_row_type(crr_csvin_t *c, crr_problems_t *p)
{
    if (c->ftype)
        return c->ftype;
    const char *t = (size_t)c->type_col < c->ncells ? c->cells[c->type_col] : "";
    const ProtobufCFieldDescriptor *f = s_body(t, strlen(t));
    if (!f)
        crr_problems_add(
            p, c->file, c->rec_line,
            t[0] ? S_MALFORMED : CRRMON__V1__REJECT_CODE__REJECT_CODE_NO_BODY, "type", t,
            "type is \"%.40s\"; must be an event type (stop_search, complaint, ...)", t);
    return f;
}

/* Builds the record's JSON Event from its cells (problems of cells in p). */
static json_t *s_row_json(crr_csvin_t *c, const ProtobufCFieldDescriptor *type, crr_problems_t *p)
{
    json_t *ev = json_object(), *body = json_object();
    if (!ev || !body || json_object_set_new(ev, type->name, body) != 0) {
        json_decref(ev);
        return NULL;
    }
    for (size_t i = 0; i < c->ncells && i < c->ncols; i++) {
        const char *v = c->cells[i], *name = c->cols[i].name;
        int kind = c->cols[i].kind;
        if (!v[0] || kind == S_COL_TYPE)
            continue;
        const ProtobufCFieldDescriptor *f = kind == S_COL_BODY ? s_col_field(c, type, i) : NULL;
        if (kind == S_COL_BODY && !f) {
            crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, name, v,
                             "column %s is not a field of %s; leave it empty in %s records", name,
                             type->name, type->name);
            continue;
        }
        if (!crr_json_is_utf8(v, strlen(v))) {
            char path[160];
            snprintf(path, sizeof path, "%s%s%s", f ? type->name : "", f ? "." : "", name);
            crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, path, "",
                             "%s is not valid UTF-8", path);
            continue;
        }
        size_t before = p->n + p->more;
        json_t *j = f ? s_cell(c, type, f, v, p) : json_string(v);
        if (!j && p->n + p->more > before)
            continue; /* the cell's problem is in p */
        if (!j || json_object_set_new(f ? body : ev, name, j) != 0) {
            json_decref(ev);
            return NULL;
        }
    }
    return ev;
}

/* The record's message the jansson way (every problem of its cells in p).
 * Returns 0 (*m), CRR_EREJECT or -ENOMEM. */
static int s_row_message(crr_csvin_t *c, const ProtobufCFieldDescriptor *type, ProtobufCMessage **m,
                         crr_problems_t *p)
{
    json_t *ev = s_row_json(c, type, p);
    if (!ev)
        return -ENOMEM;
    crr_diag_t d;
    crr_diag_clear(&d);
    int rc = crr_json_to_message(&crrmon__v1__event__descriptor, ev, m, &d);
    json_decref(ev);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        crr_problems_add(p, c->file, c->rec_line, d.code ? d.code : S_MALFORMED, d.field,
                         s_value_of(c, d.field), "%s", d.reason);
        return CRR_EREJECT;
    }
    return 0;
}

/* Converts and validates the split record. */
static int s_record(crr_csvin_t *c, const crr_validate_opts_t *vo, Crrmon__V1__Event **out,
                    crr_problems_t *p)
{
    if (c->extra || c->ncells > c->ncols)
        crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                         "the record has %zu cells but the header %zu columns",
                         c->ncells + c->extra, c->ncols);
    if (c->nul)
        return crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                                "the record holds a NUL byte (not text)");
    const ProtobufCFieldDescriptor *type = s_row_type(c, p);
    if (!type)
        return CRR_EREJECT;
    ProtobufCMessage *m = NULL;
    int rc = CRR_JSONFAST_DECLINED;
    const crr_csvfast_col_t *fc = c->fast_off || p->n || p->more ? NULL : s_type_cols(c, type);
    if (fc)
        rc = crr_csvfast_event(type, c->cells, c->ncells, fc, &m);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0 && (rc = s_row_message(c, type, &m, p)) != 0)
        return rc;
    Crrmon__V1__Event *e = (Crrmon__V1__Event *)m;
    crr_diag_t all[CRR_EDGE_MAX_PROBLEMS];
    crr_diag_clear(&all[0]);
    size_t n = 0, had = p->n;
    (void)crr_validate_event_all(e, vo, all, CRR_EDGE_MAX_PROBLEMS, &n);
    for (size_t i = 0; i < n && i < CRR_EDGE_MAX_PROBLEMS; i++)
        if (!s_has_field(p, had, all[i].field)) /* a bad cell: said already */
            crr_problems_add(p, c->file, c->rec_line, all[i].code, all[i].field,
                             s_value_of(c, all[i].field), "%s", all[i].reason);
    if (n > CRR_EDGE_MAX_PROBLEMS)
        p->more += n - CRR_EDGE_MAX_PROBLEMS;
    if (p->n || p->more) {
        crr_codec_free(m);
        return CRR_EREJECT;
    }
    *out = e;
    return 0;
}

/* ---- feeding lines ---- */

static int s_append(crr_csvin_t *c, const char *s, size_t n)
{
    if (c->rlen + n + 1 > c->rcap) {
        size_t cap = c->rcap ? c->rcap : 256;
        while (cap < c->rlen + n + 1)
            cap *= 2;
        char *r = realloc(c->rec, cap);
        if (!r)
            return -ENOMEM;
        c->rec = r;
        c->rcap = cap;
    }
    memcpy(c->rec + c->rlen, s, n);
    c->rlen += n;
    return 0;
}

/* Whether the quote state flips over s[0..n) (an odd number of quotes). */
static int s_flips(const char *s, size_t n)
{
    int odd = 0;
    for (const char *q = s; (q = memchr(q, '"', (size_t)(s + n - q))) != NULL; q++)
        odd ^= 1;
    return odd;
}

/* Opens a record at line lineno, unless one is open. */
static void s_open(crr_csvin_t *c, uint64_t lineno)
{
    if (c->pending)
        return;
    c->pending = 1;
    c->rec_line = lineno;
    c->rlen = 0;
    c->inq = 0;
    c->toolong = S_LONG_NO;
}

/* Adds line lineno to the open record's text. A record that is too long
 * already, or becomes so with this line (why: S_LONG_LINE for the start of
 * an over-long line, kept as far as it fits; else S_LONG_RECORD when the
 * line would pass max_record), stops growing: it is rejected at its end.
 * 0 or -ENOMEM. */
static int s_take(crr_csvin_t *c, const char *line, size_t len, uint64_t lineno, int why)
{
    size_t sep = lineno != c->rec_line;
    c->last = lineno;
    if (c->toolong)
        return 0;
    if (why == S_LONG_LINE || c->rlen + sep + len > c->max_record) {
        c->toolong = why;
        c->long_at = lineno;
        if (why != S_LONG_LINE || c->rlen + sep >= c->max_record)
            return 0;
        if (c->rlen + sep + len > c->max_record)
            len = c->max_record - c->rlen - sep;
    }
    if ((sep && s_append(c, "\n", 1)) || s_append(c, line, len))
        return -ENOMEM;
    return 0;
}

/* The end of a record that became too long (its quotes balance again, or
 * the input ended): one problem, at its first line. Returns CRR_EREJECT, or
 * CRR_CSVIN_BADFILE when it was the header. */
static int s_long_end(crr_csvin_t *c, crr_problems_t *p)
{
    unsigned long long first = c->rec_line, last = c->last, at = c->long_at;
    if (c->toolong == S_LONG_LINE && first == last)
        crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                         "line longer than %zu bytes (collector.max_line)", c->max_record);
    else if (c->toolong == S_LONG_LINE)
        crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                         "line %llu of the record on lines %llu-%llu is longer than %zu bytes "
                         "(collector.max_line): the whole record is rejected",
                         at, first, last, c->max_record);
    else
        crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                         "record on lines %llu-%llu longer than %zu bytes%s", first, last,
                         c->max_record, c->inq ? " (a quote never closed?)" : "");
    c->toolong = S_LONG_NO;
    return c->have_header ? CRR_EREJECT : s_bad(c, p);
}

int crr_csvin_line(crr_csvin_t *c, const char *line, size_t len, uint64_t lineno,
                   const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_problems_t *p)
{
    *out = NULL;
    crr_problems_clear(p);
    if (c->bad) {
        *p = c->badp;
        return CRR_CSVIN_BADFILE;
    }
    if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3, len -= 3;
    if (!c->pending && crr_edge_is_blank(line, len, 2))
        return CRR_EDGE_BLANK;
    s_open(c, lineno);
    if (s_take(c, line, len, lineno, S_LONG_RECORD))
        return -ENOMEM;
    c->inq ^= s_flips(line, len); /* kept, not recounted: a long record stays linear */
    if (c->inq)
        return CRR_CSVIN_MORE;
    c->pending = 0;
    if (c->toolong)
        return s_long_end(c, p);
    size_t n = c->rlen;
    if (n && c->rec[n - 1] == '\r')
        n--;
    const char *why = "";
    int rc = s_split(c, c->rec, n, &why);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "", "malformed CSV: %s", why);
        return c->have_header ? CRR_EREJECT : s_bad(c, p);
    }
    if (!c->have_header && c->nul)
        return crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                                "the header holds a NUL byte (not text)"),
               s_bad(c, p);
    if (!c->have_header)
        return s_header(c, p);
    rc = s_record(c, vo, out, p);
    if (rc == 0)
        p->d[0].line = (long)c->rec_line; /* only the line: the rest of d[0] is not set */
    return rc;
}

int crr_csvin_toolong(crr_csvin_t *c, const char *start, size_t len, uint64_t lineno,
                      uint64_t quotes, crr_problems_t *p)
{
    crr_problems_clear(p);
    if (c->bad) {
        *p = c->badp;
        return CRR_CSVIN_BADFILE;
    }
    s_open(c, lineno);
    if (s_take(c, start, len, lineno, S_LONG_LINE))
        return -ENOMEM;
    c->inq ^= (int)(quotes & 1);
    if (c->inq)
        return CRR_CSVIN_MORE;
    c->pending = 0;
    return s_long_end(c, p);
}

int crr_csvin_finish(crr_csvin_t *c, crr_problems_t *p)
{
    crr_problems_clear(p);
    if (c->bad) {
        *p = c->badp;
        return CRR_CSVIN_BADFILE;
    }
    if (!c->pending)
        return 0;
    c->pending = 0;
    if (c->toolong)
        return s_long_end(c, p);
    return crr_problems_add(p, c->file, c->rec_line, S_MALFORMED, "", "",
                            "a quoted cell opened in the record starting on line %llu is never "
                            "closed",
                            (unsigned long long)c->rec_line);
}

/* ---- the file iterator ---- */

struct crr_csvin_file {
    FILE *f;
    int is_stdin, done;
    crr_csvin_t *c;
    char *buf;
    size_t cap;
    uint64_t lineno, offset;
    int64_t size;
};

int crr_csvin_file_open(const char *path, crr_csvin_file_t **out, crr_problems_t *p)
{
    crr_problems_clear(p);
    crr_csvin_file_t *f = calloc(1, sizeof *f);
    if (!f || crr_csvin_new(path, 0, &f->c)) {
        free(f);
        return -ENOMEM;
    }
    f->is_stdin = strcmp(path, "-") == 0;
    f->f = f->is_stdin ? stdin : fopen(path, "r");
    if (!f->f) {
        int e = errno;
        crr_problems_add(p, path, 0, S_MALFORMED, "", "", "cannot open: %s", strerror(e));
        crr_csvin_free(&f->c);
        free(f);
        return -e;
    }
    struct stat st;
    f->size = fstat(fileno(f->f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    *out = f;
    return 0;
}

int crr_csvin_file_next(crr_csvin_file_t *f, const crr_validate_opts_t *vo, Crrmon__V1__Event **out,
                        crr_problems_t *p)
{
    *out = NULL;
    crr_problems_clear(p);
    while (!f->done) {
        ssize_t got = getline(&f->buf, &f->cap, f->f);
        if (got < 0) {
            if (ferror(f->f))
                return -EIO;
            f->done = 1;
            int rc = crr_csvin_finish(f->c, p);
            return rc ? rc : CRR_CSVIN_EOF;
        }
        f->lineno++;
        f->offset += (uint64_t)got;
        size_t n = (size_t)got;
        if (n && f->buf[n - 1] == '\n')
            n--;
        int rc = crr_csvin_line(f->c, f->buf, n, f->lineno, vo, out, p);
        if (rc == CRR_EDGE_BLANK || rc == CRR_CSVIN_MORE || rc == CRR_CSVIN_HEADER)
            continue;
        if (rc == CRR_CSVIN_BADFILE)
            f->done = 1;
        return rc;
    }
    return CRR_CSVIN_EOF;
}

uint64_t crr_csvin_file_offset(const crr_csvin_file_t *f)
{
    return f->offset;
}

int64_t crr_csvin_file_size(const crr_csvin_file_t *f)
{
    return f->size;
}

void crr_csvin_file_close(crr_csvin_file_t **fp)
{
    if (!fp || !*fp)
        return;
    if (!(*fp)->is_stdin)
        fclose((*fp)->f);
    crr_csvin_free(&(*fp)->c);
    free((*fp)->buf);
    free(*fp);
    *fp = NULL;
}
