/* indicators: the indicator catalogue of docs/DOMAIN.md as one declarative
 * table (indicators.c), and the engine that turns the store's day buckets into
 * IndicatorValue rows for boroughs, LONDON and windows; snapshots.
 *
 * Windows are whole UTC days: the D-day window as of T covers the D UTC days
 * ending with T's day. LONDON is computed from sums over the boroughs that
 * cover the window for the indicator, never from averaged ratios.
 *
 * Coverage: a borough covers a window for an indicator when its first-seen
 * instant (store: the earliest occurred_at ever applied, per borough and
 * event type) is at or before 00:00:00 UTC of the window's first day for
 * every event type the indicator reads (its family's type, plus a second one
 * for training.coverage, feedback.response_rate, cost.per_attendee_pence and
 * complaints.per_1000_searches). Every row carries boroughs_reporting: 0/1
 * for a borough, the number of covering boroughs for LONDON, whose sums,
 * statements and population are those boroughs' only; a row with 0 is never
 * reliable. pipeline.* rows are about arrival: a borough reports when an
 * event arrived in the window, and LONDON sums every borough as before. Scopes: every one of the 33
 * boroughs and LONDON (docs/DESIGN.md: "every indicator for every borough and London"); a borough
 * without events gets its total rows with the stat's empty value (a count of
 * 0 with Byar's [0, 3.689], proportions absent). Rows: the total, plus each
 * dimension value (and each
 * cell of a two-dimension indicator) with at least one applied event of the
 * indicator's type in the window and scope. Undefined values (denominator 0,
 * missing reference data) have no value wrapper; nothing is NaN.
 *
 * Reads run in their own read transaction and may run on any thread. */
#ifndef CRR_INDICATORS_H
#define CRR_INDICATORS_H

#include "store.h"

#include "crrmon/v1/snapshot.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* The statistic an indicator follows (docs/DOMAIN.md "stat" column). */
typedef enum crr_stat {
    CRR_STAT_C,  /* count: Byar interval, reliable when count >= 10 */
    CRR_STAT_P,  /* proportion: Wilson, reliable when m >= 50 */
    CRR_STAT_W,  /* weighted proportion: Wilson with n_eff, reliable when n_eff >= 50 */
    CRR_STAT_M,  /* mean: mean +- z s / sqrt n, reliable when n >= 30 */
    CRR_STAT_R,  /* rate per 1,000: Byar scaled, reliable when count >= 10 */
    CRR_STAT_RR, /* rate ratio vs WHITE: log method, reliable when both counts >= 10 */
    CRR_STAT_V,  /* plain value: no interval, reliable when present */
} crr_stat_t;

/* Public description of one catalogue row (for `crrmon indicators`). */
typedef struct crr_indicator_info {
    const char *name;        /* catalogue name, e.g. "stop_search.count" */
    const char *event_type;  /* body field name it reads, e.g. "stop_search" */
    const char *event_type2; /* a second type it reads (coverage needs both), NULL = none */
    const char *dims;        /* comma list of dimension names, "" for none */
    crr_stat_t stat;         /* statistic */
    const char *description; /* one line */
} crr_indicator_info_t;

/* The catalogue: *n gets the number of rows; returns a static array. */
const crr_indicator_info_t *crr_indicators_catalogue(size_t *n);

/* Letter of a stat ("C", "P", ...). Static string. */
const char *crr_stat_name(crr_stat_t st);

/* Reference data (state/refdata.h, owned by its module): resident population
 * by borough and ethnicity for the rates per 1,000. NULL, or a borough without
 * population, makes its rate rows absent (not zero). */
struct crr_refdata;

/* What to compute. */
typedef struct crr_query {
    int64_t as_of_sec;             /* T: windows end with T's UTC day (0 = now) */
    const unsigned *windows;       /* window lengths in days; NULL = the store's */
    size_t nwindows;               /* entries in windows */
    const char *borough;           /* NULL = every borough and LONDON; a GSS code or
                                      "LONDON" = that scope only */
    const char *indicator;         /* NULL = all; else one catalogue name */
    const struct crr_refdata *ref; /* population; NULL = none (rate rows absent) */
    int totals_only;               /* 1: the total rows only (the live feed's headline) */
} crr_query_t;

/* Computes the rows for q in one read transaction. *out gets a malloc'd array
 * of *n malloc'd IndicatorValue messages (every part malloc'd, so each row can
 * also be freed with crr_codec_free); free the lot with crr_indicators_free.
 * Row order: indicator (catalogue order), borough (GSS order, LONDON last),
 * window (as given), total first then dimension rows.
 * Returns 0, CRR_EINVAL (unknown borough or indicator, no windows),
 * -ENOMEM or an LMDB code; *out NULL and *n 0 on failure. */
int crr_indicators_compute(crr_store_t *s, const crr_query_t *q, Crrmon__V1__IndicatorValue ***out,
                           size_t *n);

/* Parses an as-of argument: a date "YYYY-MM-DD" (the end of that UTC day,
 * 23:59:59; *is_date = 1) or an RFC 3339 instant (*is_date = 0).
 * Returns 0 and *sec, or CRR_EPARSE. */
int crr_as_of_parse(const char *text, int64_t *sec, int *is_date);

/* The earliest UTC day (days since 1970-01-01) an as-of date may have at
 * now_sec: the longest window ending with it must start on a day the store
 * keeps whole (buckets of days before now's day - max_age_days + 1 are
 * pruned, and older events are rejected as too_old). */
int64_t crr_as_of_earliest_day(const crr_store_t *s, int64_t now_sec);

/* Checks an as-of instant at now_sec: refused when it is later than now (a
 * date: its day after now's day) or earlier than crr_as_of_earliest_day.
 * Returns 0, or CRR_EINVAL with a message for people in msg that names the
 * earliest date allowed (and the latest). */
int crr_as_of_check(const crr_store_t *s, int64_t as_of_sec, int is_date, int64_t now_sec,
                    char *msg, size_t len);

/* Frees rows from crr_indicators_compute and sets *vals = NULL. */
void crr_indicators_free(Crrmon__V1__IndicatorValue ***vals, size_t n);

/* Takes a snapshot as of as_of_sec (0 = now): every indicator for every
 * borough and LONDON and every configured window; taken_at = now; schedule
 * NULL = "on-demand". Stores it packed in the store's snapshots database under
 * a new unique id "<YYYYMMDDTHHMMSSZ of as_of>-<counter, 6+ digits>" in one
 * committed write transaction. ref as in crr_query_t (may be NULL).
 * *out (may be NULL if not wanted) gets the snapshot, free with crr_codec_free.
 * Returns 0, CRR_EINVAL (read-only store), -ENOMEM or an LMDB code
 * (MDB_MAP_FULL: nothing stored). */
int crr_snapshot_take(crr_store_t *s, int64_t as_of_sec, const char *schedule,
                      const struct crr_refdata *ref, Crrmon__V1__Snapshot **out);

#endif
