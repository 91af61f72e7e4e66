/* stats: Wilson, Byar, mean, weighted proportion and rate ratio exactly as
 * docs/DOMAIN.md defines them. Pure functions; no state, no allocation.
 * Undefined statistics are reported by return code, never as NaN. */
#include "stats.h"

#include <math.h>

int crr_stats_wilson(double x, double n, double *p, double *lo, double *hi)
{
    if (!(n > 0))
        return CRR_STATS_ABSENT;
    const double z = CRR_STATS_Z, z2 = z * z;
    double ph = x / n;
    double den = 1.0 + z2 / n;
    double centre = (ph + z2 / (2.0 * n)) / den;
    double var = ph * (1.0 - ph) / n + z2 / (4.0 * n * n);
    double half = z * sqrt(var > 0 ? var : 0) / den;
    double l = centre - half, h = centre + half;
    if (l < 0)
        l = 0;
    if (h > 1)
        h = 1;
    if (p)
        *p = ph;
    if (lo)
        *lo = l;
    if (hi)
        *hi = h;
    return CRR_STATS_OK;
}

void crr_stats_byar(double a, double *lo, double *hi)
{
    const double z = CRR_STATS_Z;
    double l = 0;
    if (a > 0) {
        double t = 1.0 - 1.0 / (9.0 * a) - z / (3.0 * sqrt(a));
        l = a * t * t * t;
        if (l < 0)
            l = 0;
    }
    double a1 = (a > 0 ? a : 0) + 1.0;
    double u = 1.0 - 1.0 / (9.0 * a1) + z / (3.0 * sqrt(a1));
    if (lo)
        *lo = l;
    if (hi)
        *hi = a1 * u * u * u;
}

int crr_stats_mean(double n, double sum, double sumsq, double *mean, double *lo, double *hi)
{
    if (!(n > 0))
        return CRR_STATS_ABSENT;
    double m = sum / n;
    if (mean)
        *mean = m;
    if (n < 2)
        return CRR_STATS_NO_CI;
    double var = (sumsq - sum * sum / n) / (n - 1.0);
    if (!(var > 0))
        var = 0;
    double half = CRR_STATS_Z * sqrt(var) / sqrt(n);
    if (lo)
        *lo = m - half;
    if (hi)
        *hi = m + half;
    return CRR_STATS_OK;
}

int crr_stats_weighted(double sum_wy, double sum_w, double sum_w2, double *p, double *n_eff,
                       double *lo, double *hi)
{
    if (!(sum_w > 0) || !(sum_w2 > 0))
        return CRR_STATS_ABSENT;
    double ph = sum_wy / sum_w;
    double ne = sum_w * sum_w / sum_w2;
    if (n_eff)
        *n_eff = ne;
    crr_stats_wilson(ph * ne, ne, (double *)0, lo, hi);
    if (p)
        *p = ph;
    return CRR_STATS_OK;
}

int crr_stats_rate_ratio(double a, double base_a, double b, double base_b, double *rr, double *lo,
                         double *hi)
{
    if (!(a > 0) || !(b > 0) || !(base_a > 0) || !(base_b > 0))
        return CRR_STATS_ABSENT;
    double r = (a / base_a) / (b / base_b);
    double se = sqrt(1.0 / a + 1.0 / b);
    double lr = log(r);
    if (rr)
        *rr = r;
    if (lo)
        *lo = exp(lr - CRR_STATS_Z * se);
    if (hi)
        *hi = exp(lr + CRR_STATS_Z * se);
    return CRR_STATS_OK;
}
