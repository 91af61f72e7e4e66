/* stats: the statistics of docs/DOMAIN.md ("Statistics (rules)"), as pure
 * functions of sums, so the indicator engine and the tests share one
 * implementation.
 *
 * Every interval uses z = CRR_STATS_Z (the 97.5% normal quantile). Nothing
 * here returns NaN: when a statistic is undefined the function says so through
 * its return value and leaves the outputs untouched. Thread-safe, allocates
 * nothing. */
#ifndef CRR_STATS_H
#define CRR_STATS_H

#define CRR_STATS_Z 1.959963984540054

/* Result codes of the functions below (>= 0, not errors). */
enum {
    CRR_STATS_OK = 0,     /* value and interval written */
    CRR_STATS_NO_CI = 1,  /* value written, no interval (mean with n < 2) */
    CRR_STATS_ABSENT = 2, /* undefined (denominator 0): nothing written */
};

/* Wilson score interval for x successes out of n trials (x may be
 * fractional, as for weighted proportions: x = p * n_eff).
 * Writes *p = x / n and [*lo, *hi] (clamped to [0, 1]).
 * Returns CRR_STATS_OK, or CRR_STATS_ABSENT when n <= 0. Any pointer may be NULL. */
int crr_stats_wilson(double x, double n, double *p, double *lo, double *hi);

/* Byar's approximation to the exact Poisson interval of a count a >= 0:
 *   lo = a (1 - 1/(9a) - z/(3 sqrt a))^3   (0 when a = 0)
 *   hi = (a+1) (1 - 1/(9(a+1)) + z/(3 sqrt(a+1)))^3
 * Always defined; writes *lo and *hi. */
void crr_stats_byar(double a, double *lo, double *hi);

/* Mean of n observations from their sum and sum of squares, with the
 * interval mean +- z * s / sqrt(n), s the sample standard deviation
 * (n - 1 divisor; tiny negative variances from rounding read as 0).
 * Returns CRR_STATS_ABSENT when n <= 0 (nothing written), CRR_STATS_NO_CI when
 * n < 2 (only *mean written), else CRR_STATS_OK. Any pointer may be NULL. */
int crr_stats_mean(double n, double sum, double sumsq, double *mean, double *lo, double *hi);

/* Weighted proportion from sum_wy = sum of w over positive answers,
 * sum_w = sum of w, sum_w2 = sum of w^2 over those who answered:
 *   *p = sum_wy / sum_w, *n_eff = sum_w^2 / sum_w2, Wilson interval using n_eff.
 * Returns CRR_STATS_ABSENT when sum_w <= 0 or sum_w2 <= 0, else CRR_STATS_OK. */
int crr_stats_weighted(double sum_wy, double sum_w, double sum_w2, double *p, double *n_eff,
                       double *lo, double *hi);

/* Rate ratio (a / base_a) / (b / base_b) with the log-method interval,
 * SE(log RR) = sqrt(1/a + 1/b). Returns CRR_STATS_ABSENT when a, b, base_a or
 * base_b is <= 0 (a = 0 gives no log interval, so the ratio is absent too;
 * callers that want RR = 0 for a = 0 check it first), else CRR_STATS_OK. */
int crr_stats_rate_ratio(double a, double base_a, double b, double base_b, double *rr, double *lo,
                         double *hi);

#endif
