/* errreport: the error report CSV (format in errreport.h). Owns the file and
 * its quoting; the rows come from the callers' diags and problems. */
#include "errreport.h"

#include "json.h"

#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct crr_errreport {
    FILE *f;
    int is_stdout;
    int err; /* first write error */
    uint64_t rows;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
};

int crr_errreport_open(const char *path, crr_errreport_t **out)
{
    crr_errreport_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->is_stdout = strcmp(path, "-") == 0;
    if (r->is_stdout) {
        r->f = stdout;
    } else {
        snprintf(r->path, sizeof r->path, "%s", path);
        snprintf(r->tmp, sizeof r->tmp, "%s.tmp", path);
        if (!(r->f = fopen(r->tmp, "w"))) {
            int e = errno;
            free(r);
            return -e;
        }
    }
    if (fputs("file,line,field,value,reason,code\n", r->f) < 0)
        r->err = -errno;
    *out = r;
    return 0;
}

/* One quoted cell and its separator. */
static void s_cell(crr_errreport_t *r, const char *v, int last)
{
    if (csv_fwrite(r->f, v, strlen(v)) != 0 || fputc(last ? '\n' : ',', r->f) == EOF)
        if (!r->err)
            r->err = errno ? -errno : -EIO;
}

int crr_errreport_add(crr_errreport_t *r, const crr_diag_t *d, const char *value)
{
    char line[24] = "";
    if (d->line > 0)
        snprintf(line, sizeof line, "%ld", d->line);
    char val[256];
    crr_diag_t c = *d; /* the report is UTF-8 whatever the input held */
    snprintf(val, sizeof val, "%s", value ? value : "");
    crr_json_clean(val);
    crr_json_clean(c.file);
    crr_json_clean(c.field);
    crr_json_clean(c.reason);
    s_cell(r, c.file, 0);
    s_cell(r, line, 0);
    s_cell(r, c.field, 0);
    s_cell(r, val, 0);
    s_cell(r, c.reason, 0);
    s_cell(r, crr_reject_code_name(d->code), 1);
    r->rows++;
    return r->err;
}

int crr_errreport_add_problems(crr_errreport_t *r, const crr_problems_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        crr_errreport_add(r, &p->d[i], p->value[i]);
    if (p->more && p->n) {
        crr_diag_t d = p->d[0];
        d.field[0] = '\0';
        snprintf(d.reason, sizeof d.reason, "%zu more problems on this line not listed", p->more);
        crr_errreport_add(r, &d, NULL);
    }
    return r->err;
}

uint64_t crr_errreport_rows(const crr_errreport_t *r)
{
    return r->rows;
}

int crr_errreport_close(crr_errreport_t **rp)
{
    if (!rp || !*rp)
        return 0;
    crr_errreport_t *r = *rp;
    if (fflush(r->f) != 0 && !r->err)
        r->err = -errno;
    if (!r->is_stdout) {
        if (fsync(fileno(r->f)) != 0 && !r->err)
            r->err = -errno;
        if (fclose(r->f) != 0 && !r->err)
            r->err = -errno;
        if (!r->err && rename(r->tmp, r->path) != 0)
            r->err = -errno;
        if (r->err)
            unlink(r->tmp);
    }
    int rc = r->err;
    free(r);
    *rp = NULL;
    return rc;
}
