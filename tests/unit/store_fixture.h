/* store_fixture: what the unit tests of the aggregator's store share
 * (test_store.c, test_indicators.c): the fixed clock, a fresh store in a
 * mkdtemp folder per test, and finding one row among computed indicator
 * values. Included after cmocka.h; everything is static inline so each test
 * uses what it needs. */
#ifndef CRR_STORE_FIXTURE_H
#define CRR_STORE_FIXTURE_H

#include "clock.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_TEXT "2026-03-01T12:00:00Z"
#define NOW_SEC 1772366400LL /* 2026-03-01T12:00:00Z */
#define B1 "E09000001"
#define B2 "E09000002"

typedef struct fx {
    char dir[64];   /* mkdtemp folder */
    crr_store_t *s; /* the store */
    uint64_t seq;   /* next sequence of a test's one source (tests that need it) */
} fx_t;

static inline void s_rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* cmocka setup: the clock at NOW_TEXT and an empty store. */
static inline int setup(void **state)
{
    setenv("CRRMON_NOW", NOW_TEXT, 1);
    crr_clock_reset();
    fx_t *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/crr_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(crr_store_open(f->dir, NULL, &f->s), 0);
    f->seq = 1;
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fx_t *f = *state;
    crr_store_close(&f->s);
    crr_store_close(&f->s); /* idempotent */
    s_rm_rf(f->dir);
    free(f);
    return 0;
}

static inline char *s_dup(const char *s)
{
    return strcpy(malloc(strlen(s) + 1), s);
}

/* Finds the row (indicator, borough, window, dims "k=v,k=v" or "" for total). */
static inline const Crrmon__V1__IndicatorValue *s_row(Crrmon__V1__IndicatorValue **v, size_t n,
                                                      const char *ind, const char *borough,
                                                      unsigned window, const char *dims)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i]->indicator, ind) || strcmp(v[i]->borough, borough) ||
            v[i]->window_days != window)
            continue;
        char buf[256] = "";
        for (size_t d = 0; d < v[i]->n_dims; d++) {
            size_t l = strlen(buf);
            snprintf(buf + l, sizeof buf - l, "%s%s=%s", d ? "," : "", v[i]->dims[d]->key,
                     v[i]->dims[d]->value);
        }
        if (strcmp(buf, dims) == 0)
            return v[i];
    }
    return NULL;
}

/* As s_row, failing the test when there is no such row. */
static inline const Crrmon__V1__IndicatorValue *s_must(Crrmon__V1__IndicatorValue **v, size_t n,
                                                       const char *ind, const char *borough,
                                                       unsigned window, const char *dims)
{
    const Crrmon__V1__IndicatorValue *r = s_row(v, n, ind, borough, window, dims);
    if (!r) {
        fprintf(stderr, "no row %s %s %u [%s]\n", ind, borough, window, dims);
        fail();
    }
    return r;
}

#endif
