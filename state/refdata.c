/* refdata: CSV loaders for reference data over csvread. Validates the header
 * and every row; keeps what it loaded only when the whole file is good (the
 * aggregator refuses to start otherwise). Resolves a bare file name in the
 * shipped reference-data folder (crr_refdata_resolve). Owns no state. */
#include "refdata.h"

#include "boroughs.h"
#include "csvread.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CRR_SOURCE_DATA_DIR /* CMake passes the source tree's data/ */
#define CRR_SOURCE_DATA_DIR "/usr/share/crrmon"
#endif

/* The installed folder beside the running binary, <exe>/../share/crrmon,
 * canonical (so messages name it plainly); -1 when there is none. */
static int s_installed_dir(char *out, size_t cap)
{
    char exe[PATH_MAX], dir[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    snprintf(dir, sizeof dir, "%s/../share/crrmon", exe);
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return -1;
    int w = snprintf(out, cap, "%s", real);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int crr_refdata_resolve(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        int w = snprintf(out, cap, "%s", name);
        return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
    }
    char dir[PATH_MAX];
    if (s_installed_dir(dir, sizeof dir) == 0) {
        int w = snprintf(out, cap, "%s/%s", dir, name);
        if (w > 0 && (size_t)w < cap && access(out, R_OK) == 0)
            return 0;
    }
    int w = snprintf(out, cap, "%s/%s", CRR_SOURCE_DATA_DIR, name);
    return w < 0 || (size_t)w >= cap ? -ENAMETOOLONG : 0;
}

/* crr_csv_read_file on the resolved path (the diag then names the real file). */
static int s_read(const char *name, crr_csv_row_fn fn, void *st, crr_diag_t *d)
{
    char path[PATH_MAX];
    int rc = crr_refdata_resolve(name, path, sizeof path);
    if (rc)
        return rc;
    return crr_csv_read_file(path, fn, st, d);
}

void crr_refdata_clear(crr_refdata_t *r)
{
    memset(r, 0, sizeof *r);
    r->version = CRR_REFDATA_VERSION;
}

static int s_borough(const char *code, crr_diag_t *d)
{
    int idx = crr_borough_index(code);
    if (idx < 0 || idx >= CRR_REF_BOROUGHS)
        crr_diag_set(d, 0, "borough_code",
                     "'%s' is not a London borough GSS code (E09000001-E09000033)", code);
    return idx;
}

static int s_header(char **f, size_t n, const char *const *want, size_t nwant, crr_diag_t *d)
{
    if (n < nwant)
        return crr_diag_set(d, 0, "", "header has %zu columns; expected %zu", n, nwant), CRR_EPARSE;
    for (size_t i = 0; i < nwant; i++)
        if (strcmp(f[i], want[i]) != 0)
            return crr_diag_set(d, 0, "", "header column %zu is '%s'; expected '%s'", i + 1, f[i],
                                want[i]),
                   CRR_EPARSE;
    return 0;
}

typedef struct {
    crr_refdata_t tmp; /* filled, then copied out on success */
    int seen_header;
    uint8_t seen[CRR_REF_BOROUGHS][CRR_REF_ETHNICITIES];
} s_load_t;

static int s_borough_row(char **f, size_t n, long line, void *ud, crr_diag_t *d)
{
    (void)line;
    s_load_t *st = ud;
    if (!st->seen_header) {
        static const char *const want[] = {"borough_code", "borough_name"};
        st->seen_header = 1;
        return s_header(f, n, want, 2, d);
    }
    if (n == 1 && f[0][0] == '\0')
        return 0; /* blank line */
    if (n < 2)
        return crr_diag_set(d, 0, "", "row has %zu fields; expected at least 2", n), CRR_EPARSE;
    int idx = s_borough(f[0], d);
    if (idx < 0)
        return CRR_EPARSE;
    if (st->tmp.have_borough[idx])
        return crr_diag_set(d, 0, "borough_code", "%s appears twice", f[0]), CRR_EPARSE;
    if (f[1][0] == '\0')
        return crr_diag_set(d, 0, "borough_name", "empty"), CRR_EPARSE;
    st->tmp.have_borough[idx] = 1;
    snprintf(st->tmp.borough_name[idx], sizeof st->tmp.borough_name[idx], "%s", f[1]);
    return 0;
}

int crr_refdata_load_boroughs(crr_refdata_t *r, const char *path, crr_diag_t *d)
{
    s_load_t *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->tmp = *r;
    memset(st->tmp.have_borough, 0, sizeof st->tmp.have_borough);
    int rc = s_read(path, s_borough_row, st, d);
    if (rc == 0 && !st->seen_header) {
        crr_diag_set(d, 0, "", "file is empty");
        rc = CRR_EPARSE;
    }
    if (rc == 0)
        *r = st->tmp;
    free(st);
    return rc;
}

static int s_ethnicity(const char *s)
{
    static const char *const names[] = {NULL, "WHITE", "MIXED", "ASIAN", "BLACK", "OTHER"};
    for (int i = 1; i <= 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int s_population_row(char **f, size_t n, long line, void *ud, crr_diag_t *d)
{
    (void)line;
    s_load_t *st = ud;
    if (!st->seen_header) {
        static const char *const want[] = {"borough_code", "borough_name", "ethnicity",
                                           "population"};
        st->seen_header = 1;
        return s_header(f, n, want, 4, d);
    }
    if (n == 1 && f[0][0] == '\0')
        return 0;
    if (n != 4)
        return crr_diag_set(d, 0, "", "row has %zu fields; expected 4", n), CRR_EPARSE;
    int idx = s_borough(f[0], d);
    if (idx < 0)
        return CRR_EPARSE;
    int eth = s_ethnicity(f[2]);
    if (eth < 0)
        return crr_diag_set(d, 0, "ethnicity", "'%s' is not WHITE, MIXED, ASIAN, BLACK or OTHER",
                            f[2]),
               CRR_EPARSE;
    char *end;
    errno = 0;
    long long v = strtoll(f[3], &end, 10);
    if (f[3][0] == '\0' || *end || errno || v < 0)
        return crr_diag_set(d, 0, "population", "'%s' is not a whole number >= 0", f[3]),
               CRR_EPARSE;
    if (st->seen[idx][eth])
        return crr_diag_set(d, 0, "ethnicity", "%s %s appears twice", f[0], f[2]), CRR_EPARSE;
    st->seen[idx][eth] = 1;
    st->tmp.population[idx][eth] = (double)v;
    return 0;
}

int crr_refdata_load_population(crr_refdata_t *r, const char *path, crr_diag_t *d)
{
    s_load_t *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->tmp = *r;
    memset(st->tmp.population, 0, sizeof st->tmp.population);
    memset(st->tmp.have_population, 0, sizeof st->tmp.have_population);
    int rc = s_read(path, s_population_row, st, d);
    if (rc == 0 && !st->seen_header) {
        crr_diag_set(d, 0, "", "file is empty");
        rc = CRR_EPARSE;
    }
    if (rc == 0) {
        for (int b = 0; b < CRR_REF_BOROUGHS; b++) {
            int all = 1;
            for (int e = 1; e <= 5; e++)
                all &= st->seen[b][e];
            st->tmp.have_population[b] = (uint8_t)all;
        }
        *r = st->tmp;
    }
    free(st);
    return rc;
}

double crr_refdata_total(const crr_refdata_t *r, int idx)
{
    if (idx < 0 || idx >= CRR_REF_BOROUGHS || !r->have_population[idx])
        return -1;
    double t = 0;
    for (int e = 1; e <= 5; e++)
        t += r->population[idx][e];
    return t;
}
