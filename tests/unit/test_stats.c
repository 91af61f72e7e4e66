/* test_stats: known answers and edge cases of state/stats (docs/DOMAIN.md's rules).
 *
 * The expected bounds are independent of the code under test, to 1e-12:
 * computed with Python 3.11 by tests/tools/stats_reference.py (needs
 * python3-mpmath; running the tests does not) from the formulas in stats.h,
 * with z the exact 97.5% normal quantile sqrt(2) * erfinv(0.95) =
 * 1.95996398454005423552459443052... (mpmath at 50 digits;
 * statistics.NormalDist().inv_cdf(0.975) agrees to 1e-15), every step in
 * decimal.Decimal at 50 digits, then rounded to a double (repr).
 * With z = 1.96 every one of them moves by 1e-6 or more (4e-4 for Byar of
 * 100), so a rounded z or a slipped term fails here. */
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
    /* Wilson 95% for 40/50 (independent values, see the top of the file) */
    NEAR(lo, 0.6696289406777458, 1e-12);
    NEAR(hi, 0.8875624998422389, 1e-12);
    /* a fractional x (weighted proportions pass p * n_eff) */
    assert_int_equal(crr_stats_wilson(2.5, 7, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(lo, 0.11808301126155252, 1e-12);
    NEAR(hi, 0.6974399701860725, 1e-12);
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
    NEAR(hi, 0.27753279986288926, 1e-12);
    assert_int_equal(crr_stats_wilson(10, 10, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(hi, 1, 1e-15);
    NEAR(lo, 0.7224672001371107, 1e-12);
    assert_int_equal(crr_stats_wilson(1, 1, &p, &lo, &hi), CRR_STATS_OK);
    NEAR(lo, 0.2065493143772374, 1e-12);
    NEAR(hi, 1, 1e-15);
    assert_int_equal(crr_stats_wilson(1, 1, NULL, NULL, NULL), CRR_STATS_OK);
}

static void test_byar(void **st)
{
    (void)st;
    double lo, hi;
    /* independent values, see the top of the file */
    crr_stats_byar(10, &lo, &hi);
    NEAR(lo, 4.787449913967562, 1e-12);
    NEAR(hi, 18.391458605756476, 1e-12);
    crr_stats_byar(0, &lo, &hi);
    NEAR(lo, 0, 1e-15);
    NEAR(hi, 3.668011832173753, 1e-12);
    crr_stats_byar(1, &lo, &hi);
    NEAR(lo, 0.013072132901504325, 1e-12);
    NEAR(hi, 5.563755582475262, 1e-12);
    crr_stats_byar(100, &lo, &hi);
    NEAR(lo, 81.36210549052787, 1e-12);
    NEAR(hi, 121.62793757920649, 1e-12);
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
    NEAR(m, 3, 1e-12);
    NEAR(lo, 1.614096175650322, 1e-12); /* independent, see the top of the file */
    NEAR(hi, 4.385903824349678, 1e-12);
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
    NEAR(lo, 0.17960197626358332, 1e-12); /* independent, see the top of the file */
    NEAR(hi, 0.9865021511804307, 1e-12);
}

static void test_rate_ratio(void **st)
{
    (void)st;
    double rr, lo, hi;
    assert_int_equal(crr_stats_rate_ratio(50, 10000, 100, 100000, &rr, &lo, &hi), CRR_STATS_OK);
    NEAR(rr, 5.0, 1e-12);
    NEAR(lo, 3.56071793693903, 1e-12); /* independent, see the top of the file */
    NEAR(hi, 7.021055990043189, 1e-12);
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
