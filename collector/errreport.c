/* errreport: rows of DIR/rejected/NAME.errors.csv kept in a growing text
 * buffer (RFC 4180 quoting: a field holding a comma, quote, CR or LF is
 * quoted, quotes doubled) and written whole at the end. See errreport.h. */
#include "errreport.h"

#include "datadir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADER "file,line,field,value,reason,code\n"

struct crr_errreport {
    char *buf;   /* the rows' CSV text, header excluded */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
    size_t rows; /* rows added */
};

crr_errreport_t *crr_errreport_new(void)
{
    return calloc(1, sizeof(crr_errreport_t));
}

void crr_errreport_free(crr_errreport_t **rp)
{
    if (!rp || !*rp)
        return;
    free((*rp)->buf);
    free(*rp);
    *rp = NULL;
}

size_t crr_errreport_rows(const crr_errreport_t *r)
{
    return r ? r->rows : 0;
}

static int s_put(crr_errreport_t *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return 0;
}

/* Appends one field, quoted when it must be, then sep. */
static int s_field(crr_errreport_t *r, const char *v, char sep)
{
    int rc = 0;
    if (v[strcspn(v, ",\"\r\n")] == '\0') {
        rc = s_put(r, v, strlen(v));
    } else {
        rc = s_put(r, "\"", 1);
        for (const char *p = v; rc == 0 && *p; p++)
            rc = *p == '"' ? s_put(r, "\"\"", 2) : s_put(r, p, 1);
        if (rc == 0)
            rc = s_put(r, "\"", 1);
    }
    return rc ? rc : s_put(r, &sep, 1);
}

int crr_errreport_add_row(crr_errreport_t *r, const char *file, long line, const char *field,
                          const char *value, const char *reason, const char *code)
{
    char num[32] = "";
    if (line > 0)
        snprintf(num, sizeof num, "%ld", line);
    const char *v[6] = {file, num, field, value, reason, code};
    size_t mark = r->len;
    int rc = 0;
    for (int i = 0; i < 6 && rc == 0; i++)
        rc = s_field(r, v[i] ? v[i] : "", i == 5 ? '\n' : ',');
    if (rc) {
        r->len = mark; /* a row is added whole or not at all */
        if (r->buf)
            r->buf[mark] = '\0';
        return rc;
    }
    r->rows++;
    return 0;
}

int crr_errreport_add(crr_errreport_t *r, const crr_diag_t *d, const char *value)
{
    return crr_errreport_add_row(r, d->file, d->line, d->field, value, d->reason,
                                 crr_reject_code_name(d->code));
}

int crr_errreport_write(const crr_errreport_t *r, const char *path)
{
    size_t hl = strlen(S_HEADER), n = hl + (r ? r->len : 0);
    char *all = malloc(n + 1);
    if (!all)
        return -ENOMEM;
    memcpy(all, S_HEADER, hl);
    if (r && r->len)
        memcpy(all + hl, r->buf, r->len);
    int rc = crr_datadir_write_file(path, all, n, 0644);
    free(all);
    return rc;
}
