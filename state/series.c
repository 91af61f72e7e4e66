/* series: an indicator's monthly values over the last 12 months (series.h).
 * Each month is one call of the indicator engine with that month's window;
 * this file only works out the months. It reads the store through
 * crr_indicators_compute alone. */
#include "series.h"

#include "clock.h"
#include "indicators.h"

#include <string.h>

/* Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The civil year and month of a day number. */
static void s_civil(int64_t days, int *y, int *m)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* Computes one month: the total row of the window [first, last] as of as_of. */
static int s_month(crr_store_t *s, const struct crr_refdata *ref, const char *indicator,
                   const char *borough, int64_t first, int64_t as_of, crr_series_month_t *o)
{
    unsigned window = (unsigned)(crr_day_of(as_of) - first + 1);
    crr_query_t q = {.as_of_sec = as_of,
                     .windows = &window,
                     .nwindows = 1,
                     .borough = borough,
                     .indicator = indicator,
                     .ref = ref};
    Crrmon__V1__IndicatorValue **rows = NULL;
    size_t n = 0;
    int rc = crr_indicators_compute(s, &q, &rows, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (rows[i]->n_dims != 0)
            continue;
        o->kept = 1;
        o->have_value = rows[i]->value != NULL;
        o->value = rows[i]->value ? rows[i]->value->value : 0;
        o->n = rows[i]->n;
        o->reliable = rows[i]->reliable;
        break;
    }
    crr_indicators_free(&rows, n);
    return 0;
}

int crr_series_monthly(crr_store_t *s, const struct crr_refdata *ref, const char *indicator,
                       const char *borough, int64_t now_sec, crr_series_month_t *out)
{
    if (!indicator || !borough)
        return CRR_EINVAL;
    int64_t today = crr_day_of(now_sec), kept_from = today - crr_store_max_age_days(s) + 1;
    int y, m;
    s_civil(today, &y, &m);
    memset(out, 0, CRR_SERIES_MONTHS * sizeof *out);
    for (int i = CRR_SERIES_MONTHS - 1; i >= 0; i--) {
        crr_series_month_t *o = &out[i];
        o->year = y;
        o->month = m;
        int64_t first = s_days_from_civil(y, (unsigned)m, 1);
        int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
        int64_t last = s_days_from_civil(ny, (unsigned)nm, 1) - 1;
        int64_t as_of = last >= today ? now_sec : last * CRR_SEC_PER_DAY + CRR_SEC_PER_DAY - 1;
        if (first >= kept_from) {
            int rc = s_month(s, ref, indicator, borough, first, as_of, o);
            if (rc)
                return rc;
        }
        y = m == 1 ? y - 1 : y;
        m = m == 1 ? 12 : m - 1;
    }
    return 0;
}
