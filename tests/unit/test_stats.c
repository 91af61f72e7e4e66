/* test_stats: known answers and edge cases of common/stats (docs/DOMAIN.md's rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "stats.h"

#define NEAR(a, b, eps) assert_true(fabs((a) - (b)) < (eps))

static void test_wilson_40_50(void **st)
{
    (void)st;
    double p, lo, hi;
    assert_int_equal(crr_stats_wilson(40, 50, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(p, 0.8, 1e-12);
    /* Wilson 95% for 40/50: 0.6696 .. 0.8876 */
    NEAR(lo, 0.66959, 1e-4);
    NEAR(hi, 0.88760, 1e-4);
}

static void test_wilson_edges(void **st)
{
    (void)st;
    double p = -1, lo = -1, hi = -1;
    assert_int_equal(crr_stats_wilson(0, 0, &p, &lo, &hi), CRR_STATS_ABSENT);
    assert_true(p == -1 && lo == -1 && hi == -1);
    assert_int_equal(crr_stats_wilson(0, 10, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(p, 0, 1e-15);
    NEAR(lo, 0, 1e-15);
    assert_true(hi > 0.25 && hi < 0.35);
    assert_int_equal(crr_stats_wilson(10, 10, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(hi, 1, 1e-15);
    assert_true(lo > 0.65 && lo < 0.75);
    assert_int_equal(crr_stats_wilson(1, 1, NULL, NULL, NULL), CRR_STATS_OK);
}

static void test_byar(void **st)
{
    (void)st;
    double lo, hi;
    crr_stats_byar(10, &lo, &hi);
    NEAR(lo, 4.787, 1e-3);
    NEAR(hi, 18.392, 1e-3);
    crr_stats_byar(0, &lo, &hi);
    NEAR(lo, 0, 1e-15);
    NEAR(hi, 3.7, 0.05); /* Byar upper for 0 is ~3.69 */
    crr_stats_byar(1, &lo, &hi);
    assert_true(lo >= 0 && lo < 0.1);
    assert_true(hi > 5.4 && hi < 5.7);
}

static void test_mean(void **st)
{
    (void)st;
    double m = -1, lo = -1, hi = -1;
    assert_int_equal(crr_stats_mean(0, 0, 0, &m, &lo, &hi), CRR_STATS_ABSENT);
    assert_true(m == -1);
    assert_int_equal(crr_stats_mean(1, 4, 16, &m, &lo, &hi), CRR_STATS_NO_CI);
    NEAR(m, 4, 1e-15);
    assert_true(lo == -1 && hi == -1);
    /* 1..5: mean 3, s = sqrt(2.5) */
    assert_int_equal(crr_stats_mean(5, 15, 55, &m, &lo, &hi), CRR_STATS_OK);
    double half = 1.959963984540054 * sqrt(2.5) / sqrt(5);
    NEAR(m, 3, 1e-12);
    NEAR(lo, 3 - half, 1e-12);
    NEAR(hi, 3 + half, 1e-12);
    /* all equal: zero width, rounding never gives NaN */
    assert_int_equal(crr_stats_mean(3, 0.3, 0.03, &m, &lo, &hi), CRR_STATS_OK);
    assert_false(isnan(lo));
    NEAR(lo, hi, 1e-9);
}

static void test_weighted(void **st)
{
    (void)st;
    double p, ne, lo, hi, p2, lo2, hi2;
    assert_int_equal(crr_stats_weighted(0, 0, 0, &p, &ne, &lo, &hi), CRR_STATS_ABSENT);
    /* equal weights: n_eff = n, same as plain Wilson */
    assert_int_equal(crr_stats_weighted(40, 50, 50, &p, &ne, &lo, &hi), CRR_STATS_OK);
    NEAR(ne, 50, 1e-12);
    crr_stats_wilson(40, 50, &p2, &lo2, &hi2);
    NEAR(p, p2, 1e-12);
    NEAR(lo, lo2, 1e-12);
    NEAR(hi, hi2, 1e-12);
    /* weights 2 and 0.5 (one positive): sum_w 2.5, sum_w2 4.25 */
    assert_int_equal(crr_stats_weighted(2, 2.5, 4.25, &p, &ne, &lo, &hi), CRR_STATS_OK);
    NEAR(p, 0.8, 1e-12);
    NEAR(ne, 6.25 / 4.25, 1e-12);
    assert_true(lo >= 0 && hi <= 1 && lo < p && p < hi);
}

static void test_rate_ratio(void **st)
{
    (void)st;
    double rr, lo, hi;
    assert_int_equal(crr_stats_rate_ratio(50, 10000, 100, 100000, &rr, &lo, &hi), CRR_STATS_OK);
    NEAR(rr, 5.0, 1e-12);
    NEAR(lo, 3.6, 0.05);
    NEAR(hi, 7.0, 0.05);
    NEAR(lo, 3.5606, 1e-3);
    NEAR(hi, 7.0210, 1e-3);
    assert_int_equal(crr_stats_rate_ratio(5, 100, 0, 100, &rr, &lo, &hi), CRR_STATS_ABSENT);
    assert_int_equal(crr_stats_rate_ratio(5, 0, 5, 100, &rr, &lo, &hi), CRR_STATS_ABSENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_40_50), cmocka_unit_test(test_wilson_edges),
        cmocka_unit_test(test_byar),         cmocka_unit_test(test_mean),
        cmocka_unit_test(test_weighted),     cmocka_unit_test(test_rate_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
