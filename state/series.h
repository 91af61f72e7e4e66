/* series: monthly values of one indicator for one scope over the last 12
 * calendar months (UTC), computed from the store's day buckets by the
 * indicator engine (the dashboard's sparklines, GET /api/v1/series).
 *
 * A month's value is the indicator's total row (no dimensions) over the
 * window of that month's days: as of 23:59:59 UTC of its last day, with a
 * window of its length in days; the current month is the window from its
 * first day up to now's day, as of now. The engine's rules hold unchanged
 * (coverage, reliability, LONDON from summed sums). A month that starts
 * before the first day the store still keeps whole (now's day minus the
 * store's max age plus one: older buckets are pruned) has no value.
 *
 * Threading: read transactions only (one per month); any thread. */
#ifndef CRR_SERIES_H
#define CRR_SERIES_H

#include "store.h"

#include <stdint.h>

#define CRR_SERIES_MONTHS 12

struct crr_refdata;

/* One month of a series. */
typedef struct crr_series_month {
    int year, month; /* calendar month (UTC), month 1..12 */
    int kept;        /* the store keeps every day of the month (else nothing below is set) */
    int have_value;  /* the total row has a value (defined) */
    double value;    /* the value when have_value */
    uint64_t n;      /* the row's n (0 when not kept) */
    int reliable;    /* the row's reliable flag */
} crr_series_month_t;

/* Fills out[0..CRR_SERIES_MONTHS) (oldest first, the last one the month of
 * now_sec) with indicator's total row for borough (a GSS code or "LONDON")
 * as described above; ref as in crr_query_t (may be NULL).
 * Returns 0, CRR_EINVAL (unknown indicator or borough), -ENOMEM or an LMDB
 * code. */
int crr_series_monthly(crr_store_t *s, const struct crr_refdata *ref, const char *indicator,
                       const char *borough, int64_t now_sec, crr_series_month_t *out);

#endif
