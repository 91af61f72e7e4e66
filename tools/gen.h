/* gen: a deterministic generator of valid events for tests, benchmarks and
 * `crrmon generate`.
 *
 * The same options (seed included) always give the same sequence of events,
 * on any platform: the PRNG is our own (splitmix64 seeding xoshiro256**), never
 * libc rand. Every event passes crr_validate_event with now = end_sec (and no
 * max-age limit, or one covering start_sec). Each event carries a unique
 * record_id "<seed>-<n>" (n from 1), so record-id de-duplication never drops
 * generated events. Distributions are plausible, not official statistics.
 * A generator is not thread-safe; use one per thread. */
#ifndef CRR_GEN_H
#define CRR_GEN_H

#include "crrmon/v1/event.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* Opaque generator state. */
typedef struct crr_gen crr_gen_t;

/* What to generate. */
typedef struct crr_gen_opts {
    uint64_t seed;               /* PRNG seed; the same seed gives the same events */
    const char *const *boroughs; /* GSS codes to spread events over; NULL = all 33 */
    size_t nboroughs;            /* entries in boroughs (ignored when boroughs is NULL) */
    int64_t start_sec, end_sec;  /* occurred_at uniformly in [start, end); start < end */
    const char *types;           /* comma list of body names ("stop_search,complaint"),
                                    NULL or "" = all eleven */
} crr_gen_opts_t;

/* Creates a generator from o (copied; o's strings need not outlive the call).
 * Returns 0 and sets *out, or CRR_EINVAL (unknown borough code or type name,
 * start_sec >= end_sec, nboroughs 0 with boroughs set) or -ENOMEM; *out is
 * NULL on failure. */
int crr_gen_new(const crr_gen_opts_t *o, crr_gen_t **out);

/* Frees *g and sets it to NULL; safe with g or *g NULL, and twice. */
void crr_gen_destroy(crr_gen_t **g);

/* Generates the next event. Returns 0 and sets *out to a heap event (every
 * part malloc'd; free with crr_codec_free), or -ENOMEM (*out NULL; the PRNG
 * has advanced, so determinism holds only for runs without ENOMEM). */
int crr_gen_next(crr_gen_t *g, Crrmon__V1__Event **out);

/* 1 when g draws events of body case `body_case` (an Event oneof field id),
 * else 0: which body types a stream can hold (e.g. the columns of a CSV). */
int crr_gen_has_type(const crr_gen_t *g, int body_case);

/* Number of events generated so far by g. */
uint64_t crr_gen_count(const crr_gen_t *g);

#endif
