/* store_int: the store's private layout, shared only by store.c and
 * indicators.c (the indicator engine reads the buckets directly). Not for
 * other modules: use store.h / indicators.h.
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

#include "store.h"

#include <lmdb.h>
#include <stdint.h>

#define CRR_AGG_KEY 14
#define CRR_AGG_CELL 8
#define CRR_AGG_MAXM 24
#define CRR_DAY_BIAS 0x80000000u

/* Families: one per (event type, cell layout). */
enum {
    CRR_FAM_FEEDBACK = 1, /* training_feedback; cell [0] staff_group */
    CRR_FAM_TRAINER,      /* training_feedback; cell = hash64(trainer_id) */
    CRR_FAM_LEARNING,     /* learning_assessment; no cell */
    CRR_FAM_BEHAVIOUR,    /* behaviour_observation; cell [0] trained, [1] observer */
    CRR_FAM_ATTENDANCE,   /* attendance; cell [0] staff_group, [1] mandatory */
    CRR_FAM_COST,         /* training_cost; cell [0] category */
    CRR_FAM_HEADCOUNT,    /* staff_headcount statements by day; cell [0] staff_group */
    CRR_FAM_STOPSEARCH,   /* stop_search; cell [0] ethnicity */
    CRR_FAM_COMPLAINT,    /* complaint; cell [0] category */
    CRR_FAM_RACIST,       /* racist_incident; cell [0] recorded_as_crime */
    CRR_FAM_SURVEY,       /* survey_response; cell [0] ethnicity, [1] gender */
    CRR_FAM_ENGAGEMENT,   /* community_engagement; cell [0] format */
    CRR_FAM_PIPELINE,     /* every applied event by ARRIVAL day; cell [0] type index 1..11 */
    CRR_FAM_COUNT
};

/* Metric indices per family (metric 0 is always the event count). */
enum {
    M_FB_N,
    M_FB_OVERALL,
    M_FB_OVERALL2,
    M_FB_RELEVANCE_POS,
    M_FB_PURPOSE_POS,
    M_FB_CI_N,
    M_FB_CI,
    M_FB_CI2,
    M_FB_RECOMMEND,
    M_FB_TQ,
    M_FB_TQ2,
    M_FB_COUNT
};
enum { M_TR_N, M_TR_TQ, M_TR_TQ2, M_TR_COUNT };
enum {
    M_LA_N,
    M_LA_GAIN_N,
    M_LA_GAIN,
    M_LA_GAIN2,
    M_LA_CEILING,
    M_LA_PRE,
    M_LA_POST,
    M_LA_MAX,
    M_LA_COUNT
};
enum { M_BO_N, M_BO_OBSERVED, M_BO_MET, M_BO_COUNT };
enum { M_AT_N, M_AT_BOOKED, M_AT_ATTENDED, M_AT_SENIOR, M_AT_COUNT };
enum { M_CO_N, M_CO_AMOUNT, M_CO_COUNT };
enum { M_HC_N, M_HC_HEADCOUNT, M_HC_IN_SCOPE, M_HC_COUNT };
enum {
    M_SS_N,
    M_SS_COUNT_SUM,
    M_SS_ARREST,
    M_SS_FOUND,
    M_SS_REVIEWED,
    M_SS_SATISFACTORY,
    M_SS_RECORDED,
    M_SS_COUNT
};
enum { M_CP_N, M_CP_ALLEGATIONS, M_CP_LINKED, M_CP_DISCRIM, M_CP_COUNT };
enum { M_RI_N, M_RI_COUNT_SUM, M_RI_COUNT };
/* survey: per item k (0 good_job, 1 treats_everyone_fairly, 2 confident_as_victim,
 * 3 fair_as_suspect, 4 would_report): base 1 + 4k: answered n, sum w, sum w^2, sum w positive */
enum { M_SV_N, M_SV_ITEM0, M_SV_COUNT = 1 + 4 * 5 };
enum { M_SV_ANS = 0, M_SV_W = 1, M_SV_W2 = 2, M_SV_WPOS = 3 };
enum {
    M_EN_N,
    M_EN_COMMUNITY_VENUE,
    M_EN_BRIEFED,
    M_EN_POLICE_P,
    M_EN_COMMUNITY_P,
    M_EN_PR_N,
    M_EN_PR,
    M_EN_PR2,
    M_EN_CR_N,
    M_EN_CR,
    M_EN_CR2,
    M_EN_COUNT
};
enum { M_PL_N, M_PL_COUNT };

/* Number of metrics of family f (0 for an unknown family). */
unsigned crr_store_fam_nmetrics(unsigned f);

/* Event type index 1..11 (body field number - 9) and its name. */
#define CRR_TYPE_COUNT 11
const char *crr_store_type_name(unsigned type_idx);

/* The event type index a family's buckets hold (0 for CRR_FAM_PIPELINE, which
 * holds every type by arrival day, and for an unknown family). */
unsigned crr_store_fam_type(unsigned f);

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
    struct crr_coalesce *co; /* apply's per-call coalescing table, reused */
    struct crr_refdata *ref; /* recorded reference data (malloc'd), NULL = none */
    struct crr_first_seen *fs_mem;    /* read-only open of a format-1 store: first-seen
                                         instants derived at open (malloc'd), else NULL */
    uint64_t rcap_batch, rcap_source; /* reject storage caps (crr_store_opts_t) */
    int64_t rcap_window;              /* the per-source cap's window, seconds */
    struct crr_rcap *rcap;            /* per-source reject counts, CRR_RCAP_SLOTS (writer) */
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

/* 64-bit hash of a string (trainer ids in cells). */
uint64_t crr_store_hash64(const char *s, size_t n);

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

/* Meta keys. */
#define CRR_META_FIRST_SEEN 'F'   /* 3-byte keys: 'F' | borough | type */
#define CRR_META_LAST_ARRIVAL 'L' /* 2-byte keys: 'L' | borough -> be64 last arrival */
#define CRR_META_FORMAT "format"  /* be32 on-disk format version (absent: version 1) */
#define CRR_META_SNAPSHOT_CTR "snapctr"
#define CRR_META_ORDER_CTR "orderctr"
#define CRR_META_CONFIG "config" /* crr_store_record_config's record */

#endif
