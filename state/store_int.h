/* store_int: the store's private layout, shared only by the store's own
 * files (store.c, store_read.c) and its unit tests. Not for other modules:
 * use store.h (the indicator engine reads through crr_store_read_*).
 * Families, cells and metrics are common/accumulate.h's.
 *
 * agg key (14 bytes, fixed): borough index (1) | family (1) | day (be32,
 * UTC day number + 2^31) | cell (8). Sorting puts one (borough, family)'s
 * days together, so a window is one range scan. The value is the family's
 * vector of sums (native doubles, nmetrics * 8 bytes). Metric 0 of every
 * family is the number of events, so "at least one event" is metric 0 > 0.
 * The cell holds the dimension values of the family, one byte each (enum
 * number, or 0/1 for a bool), except the trainer family whose cell is a
 * 64-bit hash of trainer_id (the string is kept in the names database). */
#ifndef CRR_STORE_INT_H
#define CRR_STORE_INT_H

#include "accumulate.h"
#include "store.h"

#include <lmdb.h>
#include <stdint.h>

#define CRR_AGG_KEY 14
#define CRR_DAY_BIAS 0x80000000u

/* The store handle (opaque outside store.c / indicators.c). */
struct crr_store {
    MDB_env *env;                            /* the environment */
    int readonly;                            /* opened MDB_RDONLY */
    unsigned windows[CRR_STORE_MAX_WINDOWS]; /* window lengths in days */
    size_t nwindows;                         /* entries in windows */
    int64_t max_age_days;                    /* too_old limit and prune horizon */
    MDB_dbi db_sources, db_agg, db_gauge, db_records, db_names, db_meta, db_snapshots,
        db_rejects;          /* named databases */
    MDB_dbi db_rejseq;       /* rejected events by source key | be64 seq, to re-report on resend */
    MDB_dbi db_seqhash;      /* hash of each applied event by source key | be64 seq (resends) */
    struct crr_buckets *co;  /* apply's per-call bucket table (buckets.h), reused */
    struct crr_refdata *ref; /* recorded reference data (malloc'd), NULL = none */
    struct crr_first_seen *fs_mem;        /* read-only open of a format-1 store: first-seen
                                             instants derived at open (malloc'd), else NULL */
    uint64_t rcap_batch, rcap_source;     /* reject storage caps (crr_store_opts_t) */
    int64_t rcap_window;                  /* the per-source cap's window, seconds */
    struct crr_rcap *rcap;                /* per-source reject counts, CRR_RCAP_SLOTS (writer),
                                             then as many for apply's copy (a failed attempt
                                             gives back the budget it took) */
    crr_store_snapshot_hook_fn snap_hook; /* crr_store_set_snapshot_hook's, or NULL */
    void *snap_hook_ud;                   /* its argument */
};

/* Per-source reject count in the current window (a direct-mapped table by
 * source_id hash: a colliding source takes the slot over, its count restarts). */
#define CRR_RCAP_SLOTS 1024
struct crr_rcap {
    uint64_t hash;   /* hash of the source_id, 0 = free */
    int64_t window;  /* window start (arrival time / window * window) */
    uint64_t stored; /* rejects stored for it in that window */
    int hit;         /* the cap was reached in that window (reported once) */
};

/* Encodes an agg key. */
void crr_store_agg_key(uint8_t key[CRR_AGG_KEY], unsigned borough, unsigned fam, int64_t day,
                       const uint8_t cell[CRR_AGG_CELL]);

/* Looks up a name stored for hash h in txn (names database). Returns a
 * pointer into LMDB (valid until txn ends) and *len, or NULL. */
const char *crr_store_name_get(crr_store_t *s, MDB_txn *txn, uint64_t h, size_t *len);

/* gauge key: borough (1) | staff_group (1) | be64(sec + 2^63) | be32 nanos | be64 order */
#define CRR_GAUGE_KEY 22

/* First seen (coverage): the earliest occurred_at of any applied event of
 * type `type` (1..CRR_TYPE_COUNT) in borough b, ever (never pruned; it only
 * moves earlier). Stored in meta under CRR_META_FIRST_SEEN | b | type as
 * be64(sec + 2^63) | be32 nanos. Reads it in txn into *sec / *nanos.
 * Returns 0, MDB_NOTFOUND (nothing of that type applied for b) or an LMDB code. */
int crr_store_first_seen(crr_store_t *s, MDB_txn *txn, unsigned b, unsigned type, int64_t *sec,
                         int32_t *nanos);

/* Meta keys: every key of the meta database is named here (only the store's
 * files, store.c and store_read.c, read or write them). */
#define CRR_META_FIRST_SEEN 'F'   /* 3-byte keys: 'F' | borough | type */
#define CRR_META_LAST_ARRIVAL 'L' /* 2-byte keys: 'L' | borough -> be64 last arrival */
#define CRR_META_ARRIVAL_KEY 2    /* bytes of a CRR_META_LAST_ARRIVAL key */
#define CRR_META_FORMAT "format"  /* be32 on-disk format version (absent: version 1) */
#define CRR_META_SNAPSHOT_CTR "snapctr"
#define CRR_META_ORDER_CTR "orderctr"
#define CRR_META_CONFIG "config" /* crr_store_record_config's record */

/* The CRR_META_LAST_ARRIVAL key of borough b. */
static inline void crr_store_arrival_key(uint8_t k[CRR_META_ARRIVAL_KEY], unsigned b)
{
    k[0] = CRR_META_LAST_ARRIVAL;
    k[1] = (uint8_t)b;
}

#endif
