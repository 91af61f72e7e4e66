/* csvread: feeds libcsv one physical line at a time so the current line
 * number is known when libcsv reports the end of a row; the row's first line
 * is remembered separately so rows with quoted newlines report where they
 * start. Fields are copied into a per-call buffer list. Owns nothing after
 * return. */
#include "csvread.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *fields[CRR_CSV_MAX_FIELDS]; /* the current row's fields (malloc'd) */
    size_t n;                         /* fields in the current row */
    int too_many;                     /* the row had more than CRR_CSV_MAX_FIELDS */
    long line;                        /* physical line being fed */
    long row_start;                   /* line the current row started on */
    int stop;                         /* callback's non-zero return */
    int oom;                          /* a copy failed */
    crr_csv_row_fn fn;
    void *ud;
    crr_diag_t *d;
} s_state_t;

static void s_clear_row(s_state_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->fields[i]);
    st->n = 0;
    st->too_many = 0;
}

static void s_field(void *s, size_t len, void *data)
{
    s_state_t *st = data;
    if (st->stop)
        return;
    if (st->n >= CRR_CSV_MAX_FIELDS) {
        st->too_many = 1;
        return;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        st->oom = 1;
        return;
    }
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    st->fields[st->n++] = copy;
}

static void s_row(int c, void *data)
{
    (void)c;
    s_state_t *st = data;
    if (!st->stop) {
        st->d->line = st->row_start;
        if (st->oom) {
            crr_diag_set(st->d, 0, "", "out of memory");
            st->stop = -ENOMEM;
        } else if (st->too_many) {
            crr_diag_set(st->d, 0, "", "more than %d fields", CRR_CSV_MAX_FIELDS);
            st->stop = CRR_EPARSE;
        } else {
            st->stop = st->fn(st->fields, st->n, st->row_start, st->ud, st->d);
        }
    }
    s_clear_row(st);
    st->row_start = st->line + 1;
}

int crr_csv_read_file(const char *path, crr_csv_row_fn fn, void *ud, crr_diag_t *d)
{
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%s", path);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        int e = errno;
        crr_diag_set(d, 0, "", "cannot open: %s", strerror(e));
        return -e;
    }
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI);
    s_state_t st = {.line = 0, .row_start = 1, .fn = fn, .ud = ud, .d = d};
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (!st.stop && (got = getline(&buf, &cap, fp)) > 0) {
        st.line++;
        if (csv_parse(&p, buf, (size_t)got, s_field, s_row, &st) != (size_t)got) {
            d->line = st.line;
            crr_diag_set(d, 0, "", "malformed CSV: %s", csv_strerror(csv_error(&p)));
            rc = CRR_EPARSE;
            break;
        }
    }
    if (!rc && !st.stop && csv_fini(&p, s_field, s_row, &st) != 0) {
        d->line = st.row_start;
        crr_diag_set(d, 0, "", "malformed CSV: %s", csv_strerror(csv_error(&p)));
        rc = CRR_EPARSE;
    }
    if (!rc)
        rc = st.stop;
    s_clear_row(&st);
    csv_free(&p);
    free(buf);
    fclose(fp);
    return rc;
}
