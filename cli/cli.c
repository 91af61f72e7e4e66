/* cli: shared helpers of the `crrmon` subcommands (see cli.h). Stateless. */
#include "cli.h"

#include "datadir.h"
#include "err.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int crr_cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crrmon %s: %s\n", cmd, msg);
    fprintf(stderr, "Try 'crrmon %s --help'.\n", cmd);
    return CRR_EXIT_USAGE;
}

int crr_cli_fail(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crrmon %s: %s\n", cmd, msg);
    return CRR_EXIT_FAIL;
}

int crr_cli_config(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crrmon %s: %s\n", cmd, msg);
    return CRR_EXIT_CONFIG;
}

int crr_cli_conflict(const char *cmd, const char *a, const char *a_value, const char *b,
                     const char *b_value, const char *what, const char *use_a, const char *use_b)
{
    char va[600], vb[600];
    snprintf(va, sizeof va, "%s%s%s", a, a_value ? " " : "", a_value ? a_value : "");
    snprintf(vb, sizeof vb, "%s%s%s", b, b_value ? " " : "", b_value ? b_value : "");
    fprintf(stderr,
            "crrmon %s: %s and %s both say %s, give one, not both: drop %s to %s, or drop %s "
            "to %s\n",
            cmd, va, vb, what, b, use_a, a, use_b);
    return CRR_EXIT_USAGE;
}

int crr_cli_endpoint(const char *data_dir, const char *key, char *buf, size_t len)
{
    char path[4096];
    if (crr_datadir_path(path, sizeof path, data_dir, CRR_DATADIR_ENDPOINTS))
        return CRR_ETOOBIG;
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    json_error_t jerr;
    json_t *root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!root)
        return CRR_EPARSE;
    int rc = 0;
    const char *v = json_string_value(json_object_get(root, key));
    if (!v) {
        rc = CRR_ENOTFOUND;
        goto done;
    }
    if (strcmp(key, "http") == 0 && strncmp(v, "http://", 7) == 0)
        v += 7;
    size_t vlen = strlen(v);
    if (strcmp(key, "http") == 0)
        while (vlen > 0 && v[vlen - 1] == '/')
            vlen--;
    if (vlen >= len) {
        rc = CRR_ETOOBIG;
        goto done;
    }
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
done:
    json_decref(root);
    return rc;
}

int crr_cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return CRR_EPARSE;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return CRR_EPARSE;
    *out = v;
    return 0;
}

void crr_cli_getopt_reset(void)
{
    /* glibc: optind = 0 makes the next getopt_long reinitialise fully. */
    optind = 0;
    opterr = 0;
}

int crr_cli_getopt_tail(const char *cmd, int o, char **argv, void (*usage)(FILE *out))
{
    if (o == 'h') {
        usage(stdout);
        return CRR_EXIT_OK;
    }
    if (o == ':')
        return crr_cli_usage(cmd, "%s needs a value", argv[optind - 1]);
    return crr_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
}

struct crr_cli_table {
    size_t ncols;  /* columns per row */
    size_t nrows;  /* rows stored (header excluded) */
    size_t cap;    /* rows allocated */
    char **cells;  /* (nrows + 1) * ncols strings, row 0 the header */
    size_t *width; /* widest cell per column */
};

static int s_table_push(crr_cli_table_t *t, const char *const *cells)
{
    if (t->nrows + 1 >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        char **n = realloc(t->cells, ncap * t->ncols * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->cells = n;
        t->cap = ncap;
    }
    size_t base = t->nrows * t->ncols; /* header is row 0 while nrows counts it first */
    for (size_t i = 0; i < t->ncols; i++) {
        char *c = strdup(cells[i] ? cells[i] : "-");
        if (!c) {
            for (size_t j = 0; j < i; j++)
                free(t->cells[base + j]);
            return -ENOMEM;
        }
        t->cells[base + i] = c;
        size_t w = strlen(c);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
    return 0;
}

int crr_cli_table_new(size_t ncols, const char *const *headers, crr_cli_table_t **out)
{
    *out = NULL;
    crr_cli_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ncols = ncols;
    t->width = calloc(ncols, sizeof *t->width);
    if (!t->width || s_table_push(t, headers) != 0) {
        crr_cli_table_destroy(&t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

int crr_cli_table_add(crr_cli_table_t *t, const char *const *cells)
{
    return s_table_push(t, cells);
}

size_t crr_cli_table_rows(const crr_cli_table_t *t)
{
    return t->nrows ? t->nrows - 1 : 0;
}

void crr_cli_table_print(const crr_cli_table_t *t, FILE *out, unsigned right_mask)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->cells + r * t->ncols;
        /* Trailing empty cells are not printed, so no line ends in blanks. */
        size_t last = t->ncols;
        while (last > 1 && row[last - 1][0] == '\0')
            last--;
        for (size_t c = 0; c < last; c++) {
            int w = (int)t->width[c];
            int right = c < 32 && (right_mask >> c & 1u) && r > 0;
            if (c > 0)
                fputs("  ", out);
            if (right)
                fprintf(out, "%*s", w, row[c]);
            else if (c + 1 == last)
                fputs(row[c], out);
            else
                fprintf(out, "%-*s", w, row[c]);
        }
        fputc('\n', out);
    }
}

void crr_cli_table_destroy(crr_cli_table_t **tp)
{
    if (!tp || !*tp)
        return;
    crr_cli_table_t *t = *tp;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
    *tp = NULL;
}
