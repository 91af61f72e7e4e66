/* store: the aggregator's state in one LMDB environment.
 *
 * Named databases (all keys fixed-width big-endian unless said otherwise):
 *   sources   (source_id, epoch) -> applied_seq, last seen, spool depth, counters
 *   agg       borough | family | day | cell -> fixed vector of sums (doubles):
 *             counts, sums, sums of squares, sums of weights and squared
 *             weights per borough, UTC day of occurred_at (arrival day for the
 *             pipeline family), event type family and dimension cell. A window
 *             is one range scan per (borough, family). Each event is added to
 *             the running totals in arrival order, so the sums are the same
 *             bits however the events were grouped.
 *   gauge     borough | staff_group | occurred_at | apply counter ->
 *             staff_headcount statements (latest up to an instant wins)
 *   records   borough | type | record_id -> day (record-id de-duplication)
 *   names     hash -> string (trainer ids, which live in keys as 64-bit hashes)
 *   meta      counters (snapshot ids, statement order), last arrival per borough,
 *             first seen per borough and event type (coverage), format version
 *   snapshots id -> taken_at (be64) + packed crrmon.v1.Snapshot
 *   seqhash   (source_id, epoch) | seq -> arrival, 64-bit hash of the packed event,
 *             for the last CRR_STORE_SEQHASH_KEEP seqs of each source: a resent
 *             seq must carry the same event (REJECT_CODE_SEQUENCE_CONFLICT)
 *   rejects   common/rejects.h
 *
 * Guarantees (docs/MODULES.md): crr_store_apply applies a group of batches in
 * ONE write transaction that also stores each source's applied sequence, and
 * commits it durably (no MDB_NOSYNC) before returning, so the caller may Ack.
 * Any LMDB error aborts the whole transaction: nothing of it counts as
 * applied; a batch whose own apply failed is then left out and the group
 * applied again without it (crr_store_job_t.error).
 *
 * Threading: one writer thread calls apply/reject_frame/prune/snapshot_take;
 * readers (indicators, sources_foreach, snapshot_get) may run on any thread
 * (the env is opened MDB_NOTLS). A crr_store_t is otherwise not shared. */
#ifndef CRR_STORE_H
#define CRR_STORE_H

#include "err.h"

#include "crrmon/v1/ingest.pb-c.h"
#include "crrmon/v1/snapshot.pb-c.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

/* Opaque store handle. */
typedef struct crr_store crr_store_t;

#define CRR_STORE_DEFAULT_MAP_SIZE (4ULL << 30) /* 4 GiB */
#define CRR_STORE_MAX_WINDOWS 8
/* LMDB reader slots of the store's environment: concurrent read transactions
 * of the aggregator (one per HTTP connection thread at most, and its own
 * threads) and of every `crrmon` command reading the store beside it. The
 * aggregator checks at compile time that this exceeds its HTTP connection
 * limit plus its own readers (aggregator.h). 64 bytes of lock file each. */
#define CRR_STORE_MAX_READERS 512u

/* How to open the store. Zero-initialised fields take the defaults. */
typedef struct crr_store_opts {
    uint64_t map_size;          /* LMDB map size in bytes; 0 = CRR_STORE_DEFAULT_MAP_SIZE */
    int readonly;               /* 1: open MDB_RDONLY (CLI); apply/prune/snapshot_take refuse */
    int64_t max_age_days;       /* events older than this are too_old, buckets and record ids
                                   are pruned after it; 0 = longest window + 30 */
    const unsigned *windows;    /* window lengths in days (copied); NULL = 30, 90, 365 */
    size_t nwindows;            /* entries in windows (at most CRR_STORE_MAX_WINDOWS) */
    int start_empty;            /* 1: an empty (0-byte) data.mdb starts a new store instead of being
                                   refused with CRR_EEMPTY (common/lmdbx.h) */
    uint64_t reject_cap_batch;  /* rejects stored per batch; 0 = CRR_STORE_REJECT_CAP_BATCH */
    uint64_t reject_cap_source; /* rejects stored per source_id and window; 0 = ..._SOURCE */
    int64_t reject_cap_window_sec; /* that window; 0 = CRR_STORE_REJECT_CAP_WINDOW_SEC */
} crr_store_opts_t;

/* Reject storage caps (defaults). Each rejected event is always counted and
 * listed in its Ack; only the first rejects of a batch, and of a source_id in
 * each window, are stored with their text (a sample with reasons); the rest
 * are counted (crr_store_job_t.n_unstored). The per-source count lives in
 * memory (it starts again at a restart); an apply attempt that fails (its
 * transaction aborted) gives back what it counted. */
#define CRR_STORE_REJECT_CAP_BATCH 100
#define CRR_STORE_REJECT_CAP_SOURCE 1000
#define CRR_STORE_REJECT_CAP_WINDOW_SEC 3600

/* On-disk format version, recorded in meta ("format") and checked at open.
 *   1  before coverage (no "format" key; no first-seen instants)
 *   2  first-seen instants per borough and event type (coverage)
 * A store of a newer version is refused (CRR_EVERSION). A version-1 store is
 * migrated by a writable open in the open's one transaction: first-seen
 * instants are derived from what is retained (the earliest day bucket with an
 * event, per borough and family, taken as the LAST instant of that day, and
 * the earliest retained staff_headcount statement exactly). Events older
 * than the retained buckets (pruned after max_age_days) are gone, so a
 * borough that sent data before them looks as if it joined on its earliest
 * retained day. A read-only open derives the same instants in memory and
 * leaves the file as it is. */
#define CRR_STORE_FORMAT_VERSION 2u

/* Opens (creating when writable) the LMDB environment in folder dir and its
 * databases, checking and migrating its format version (above). o may be
 * NULL (defaults). Returns 0 and sets *out, or -errno, an LMDB code
 * (MDB_NOTFOUND: a read-only open of a store never written), CRR_EVERSION
 * (written by a newer crrmon), CRR_EEMPTY / CRR_ETRUNCATED (a damaged data
 * file, refused and logged by crr_lmdb_open) or CRR_EINVAL (bad opts); *out
 * is NULL on failure. */
int crr_store_open(const char *dir, const crr_store_opts_t *o, crr_store_t **out);

/* Closes the environment and frees *s; sets *s = NULL. Safe with NULL, twice. */
void crr_store_close(crr_store_t **s);

/* The LMDB environment (borrowed; valid until crr_store_close). */
MDB_env *crr_store_env(crr_store_t *s);

/* The configured windows (borrowed, until close) and their count. */
const unsigned *crr_store_windows(const crr_store_t *s, size_t *n);

/* The effective max age in days (events older are rejected as too_old). */
int64_t crr_store_max_age_days(const crr_store_t *s);

/* Sequences per (source, epoch) whose event hash is kept to check resends:
 * twice the default sender window (64 frames of 2,000 events). A resend
 * further back than this cannot be checked and counts as resent. */
#define CRR_STORE_SEQHASH_KEEP 262144u

/* The store's unit of work: one received Batch and what applying it did (for
 * its Ack and metrics). It lives here, not in the aggregator, because
 * crr_store_apply reads and fills it; the aggregator's ingest (and the tests)
 * only build it from a Batch and read the out fields. */
typedef struct crr_store_job {
    const Crrmon__V1__Batch *batch;   /* in, borrowed: the batch to apply */
    const uint64_t *event_hash;       /* in, borrowed, optional: each event's resend hash, in
                                         batch order (crr_codec_batch_event_hashes: the bytes as
                                         received); NULL = each event is packed again to hash it */
    int64_t arrival_sec;              /* in: arrival time; 0 = crr_clock_now_sec() at apply */
    uint64_t durable_seq;             /* out: applied_seq of (source, epoch) after the commit */
    uint64_t expected_seq;            /* out: applied+1 when the batch started past it (nothing
                                         applied), else 0 */
    Crrmon__V1__Rejection **rejected; /* out: malloc'd array of malloc'd Rejections (seq, code,
                                         field, reason; strings malloc'd), in batch order; freed by
                                         crr_store_job_reset or moved into an Ack by the caller */
    size_t n_rejected;                /* out: entries in rejected */
    uint64_t n_rereported;            /* out: of those, rejections listed again because their
                                         event was resent (rejected and counted before) */
    uint64_t rejected_by_code[CRR_REJECT_CODES]; /* out: NEW rejections by reject code */
    uint64_t n_unstored;  /* out: of the NEW rejections, those past a reject storage cap (listed
                             and counted, not stored in the rejects database) */
    int source_cap_hit;   /* out: this batch was the first to reach its source's cap in the
                             window (report it once) */
    uint64_t n_applied;   /* out: events applied to the aggregates */
    uint64_t n_duplicate; /* out: events skipped as duplicates (a record_id seen before) */
    uint64_t n_resent;    /* out: events resent (seq <= applied: their outcome was counted
                             when they first arrived) */
    uint64_t total_applied, total_duplicates, total_rejected; /* out: the source's totals after
                                                                 this job (Ack.total_*) */
    int error; /* out: 0, or why this batch alone could not be applied (an LMDB code such as
                  MDB_MAP_FULL, -ENOMEM): nothing of it was, the rest of the group was */
    uint64_t conflict_seq;     /* out: a resent seq whose event differs from the one applied under
                                  it (another sender under this source and epoch): nothing of the
                                  batch was applied; 0 = none */
    const char (*allowed)[10]; /* in: boroughs the sender may report for (GSS codes), or NULL =
                                  any; an event for another is rejected REJECT_CODE_NOT_ALLOWED */
    size_t nallowed;           /* in: entries in allowed */
    const char *sender;        /* in: the sender's certificate name (reject reasons), or NULL */
} crr_store_job_t;

/* Batches left out of a group, one by one, before the group fails as a whole. */
#define CRR_STORE_APPLY_RETRIES 3

/* Applies every job in ONE LMDB write transaction and commits it durably
 * before returning (the caller then sends the Acks). Per job, following
 * docs/MODULES.md "Batches and Acks":
 *   - first seq > applied + 1: nothing applied, expected_seq = applied + 1;
 *   - a resent seq (<= applied) whose event hash differs from the one stored
 *     for it: nothing applied, conflict_seq = that seq;
 *   - seq <= applied: resent (n_resent), skipped;
 *   - seq 0 or seq != previous + 1: that event and the rest of the batch are
 *     rejected with REJECT_CODE_BAD_SEQUENCE and applied_seq stops before them;
 *   - otherwise validated (crr_validate_event, now = the arrival time, max age
 *     from the opts); invalid events are listed in rejected and stored with
 *     crr_rejects_put, up to the reject storage caps (see above); valid ones are applied unless
 * their (borough, type, record_id) was seen before (n_duplicate); rejected events still advance
 *     applied_seq.
 * Several jobs of the same (source, epoch) in one call are applied in order.
 * The source's last-seen time and spool depth are stored in the same txn.
 * Out fields are reset at the start (call crr_store_job_reset on reuse to
 * free the previous rejections).
 * One batch cannot fail the others: when applying a job fails (an LMDB
 * error, -ENOMEM), the transaction is aborted and the group applied again
 * without it; that job gets error set and nothing else (answer its sender
 * with an error: it resends). Up to CRR_STORE_APPLY_RETRIES jobs are left
 * out so; a failure past that, or one that is no job's (the commit), fails
 * the call and every job's out fields are reset (nothing applied, no
 * rejections, error 0).
 * Returns 0 (jobs with error != 0 were left out), CRR_EINVAL (read-only
 * store, NULL batch), -ENOMEM, or an LMDB code (MDB_MAP_FULL included; the
 * transaction was aborted, the store is as before the call). */
int crr_store_apply(crr_store_t *s, crr_store_job_t *jobs, size_t n);

/* Frees j's rejections and zeroes its out fields (batch is kept). Safe with NULL. */
void crr_store_job_reset(crr_store_job_t *j);

/* Stores one reject that is not an event of a parsed batch (a malformed frame,
 * a frame over a limit) in its own committed transaction. d gives code,
 * field, reason (file/line if any); source_id may be NULL; raw is the frame
 * as hex or text (truncated to CRR_REJECTS_RAW_MAX), may be NULL. Frame
 * rejects share the per-source cap of event rejects (source_id NULL counts
 * as ""): past it nothing is stored and 1 is returned (count it).
 * Returns 0, 1 (not stored: cap), CRR_EINVAL (read-only), -ENOMEM or an
 * LMDB code. */
int crr_store_reject_frame(crr_store_t *s, const crr_diag_t *d, const char *source_id,
                           const char *raw);

/* Source-id ownership (security): the owner of source_id is the certificate
 * name that first sent for it, kept in the meta database. Claims source_id
 * for name when it has no owner yet (its own committed transaction) and
 * copies the owner into owner (at most len bytes). Returns 0, CRR_EINVAL
 * (read-only), or an LMDB code. */
int crr_store_source_owner(crr_store_t *s, const char *source_id, const char *name, char *owner,
                           size_t len);

/* One (source_id, epoch) as stored. */
typedef struct crr_source_info {
    const char *source_id; /* borrowed: valid during the callback only */
    uint64_t epoch;        /* the source's epoch */
    uint64_t applied_seq;  /* highest sequence applied (durable) */
    int64_t last_seen_sec; /* arrival time of its last batch */
    uint64_t spool_depth;  /* spool depth the sender last reported */
    uint64_t applied;      /* events applied to the aggregates, all time */
    uint64_t duplicates;   /* events skipped as duplicates (record_id seen before), all time */
    uint64_t rejected;     /* events rejected, all time */
    uint64_t resent;       /* events received again under a seq already applied, all time */
} crr_source_info_t;

/* Calls fn for each stored (source, epoch), in (source_id, epoch) order, in
 * one read transaction. Stops when fn returns non-zero and returns that value.
 * Returns 0 or an LMDB code. */
int crr_store_sources_foreach(crr_store_t *s, int (*fn)(const crr_source_info_t *, void *),
                              void *ud);

/* Calls fn(json, len, ud) for stored rejects with id >= from_id, oldest first
 * (see crr_rejects_foreach). Returns 0, fn's non-zero value, or an LMDB code. */
int crr_store_rejects_foreach(crr_store_t *s, uint64_t from_id,
                              int (*fn)(const char *json, size_t len, void *ud), void *ud);

/* Stored snapshot by id. Returns 0 and *out (free with crr_codec_free),
 * CRR_ENOTFOUND, CRR_EPARSE or an LMDB code. */
int crr_store_snapshot_get(crr_store_t *s, const char *id, Crrmon__V1__Snapshot **out);

/* Stored snapshot id's header: id, as_of, taken_at and schedule (the fields
 * packed before the rows; n_values 0, and catch_up, packed after them, left
 * false), read without touching the rows, for the start-up's delivery check
 * over every stored snapshot and the HTTP API's existence check. Returns 0 and *out
 * (free with crr_codec_free), CRR_ENOTFOUND, CRR_EPARSE, -ENOMEM or an LMDB
 * code. Any thread. */
int crr_store_snapshot_head(crr_store_t *s, const char *id, Crrmon__V1__Snapshot **out);

/* Calls fn(id, taken_at_sec, ud) for each stored snapshot in id order (ids
 * sort by as_of then counter). Stops when fn returns non-zero and returns it. */
int crr_store_snapshots_foreach(crr_store_t *s,
                                int (*fn)(const char *id, int64_t taken_at_sec, void *ud),
                                void *ud);

/* Stores snap (its values, schedule, as_of and taken_at filled; id unset,
 * as crrmon__v1__snapshot__init leaves it) as the next snapshot, in one
 * committed write transaction: takes the next value of the snapshot counter
 * (meta), sets snap->id (malloc'd, owned by snap) to "<as_of as
 * YYYYMMDDTHHMMSSZ>-<counter, 6 digits>" and stores taken_at_sec with the
 * packed snapshot. Returns 0, CRR_EINVAL (read-only store), -ENOMEM or an
 * LMDB code (nothing stored, counter and snap->id unchanged). */
int crr_store_snapshot_put(crr_store_t *s, Crrmon__V1__Snapshot *snap, int64_t as_of_sec,
                           int64_t taken_at_sec);

/* Something to record in the same transaction as each stored snapshot (the
 * aggregator's outbox: one delivery per sink, aggregator/deliver.c): fn is
 * called by crr_store_snapshot_put inside its write transaction once snap->id
 * is set and before snap is packed (fn may set header fields such as
 * catch_up, never values); a non-zero return aborts the transaction (nothing
 * stored) and is crr_store_snapshot_put's result. NULL fn removes it. Writer
 * thread only. */
typedef int (*crr_store_snapshot_hook_fn)(MDB_txn *txn, Crrmon__V1__Snapshot *snap,
                                          int64_t taken_at_sec, void *ud);
void crr_store_set_snapshot_hook(crr_store_t *s, crr_store_snapshot_hook_fn fn, void *ud);

/* 1 when s was opened read-only (apply, prune and snapshots refuse). */
int crr_store_is_readonly(const crr_store_t *s);

/* ---- reads for the indicator engine --------------------------------------
 * One read transaction (any thread) over the buckets that common/accumulate
 * writes: families, cells and metrics are accumulate.h's. Open with
 * crr_store_read_begin, end with crr_store_read_end. */
typedef struct crr_store_read crr_store_read_t;

/* Begins a read. Returns 0 and *out, -ENOMEM or an LMDB code. */
int crr_store_read_begin(crr_store_t *s, crr_store_read_t **out);

/* Ends the read and frees *r; sets *r = NULL. Safe with NULL. */
void crr_store_read_end(crr_store_read_t **r);

/* One day bucket: its UTC day, cell (the 8 cell bytes as a big-endian
 * integer) and metric vector (nm doubles, borrowed for the call). */
typedef int (*crr_store_bucket_fn)(void *ud, int64_t day, uint64_t cell, const double *m,
                                   unsigned nm);

/* Calls fn for each bucket of (borough b, family fam) with lo_day <= day <=
 * hi_day, in (day, cell) order; buckets of the wrong width are skipped.
 * Stops at fn's non-zero value and returns it; else 0 or an LMDB code. */
int crr_store_read_buckets(crr_store_read_t *r, unsigned b, unsigned fam, int64_t lo_day,
                           int64_t hi_day, crr_store_bucket_fn fn, void *ud);

/* Sets *out to borough b's in-scope headcount before end_excl_sec: the
 * latest staff_headcount statement of each staff group, summed (0 if none).
 * Returns 0 or an LMDB code. */
int crr_store_read_in_scope(crr_store_read_t *r, unsigned b, int64_t end_excl_sec, double *out);

/* The first instant an event of type index t (accumulate.h) occurred in
 * borough b (coverage). Returns 0, MDB_NOTFOUND (never) or an LMDB code. */
int crr_store_read_first_seen(crr_store_read_t *r, unsigned b, unsigned t, int64_t *sec,
                              int32_t *nanos);

/* The latest arrival time (seconds) of an event applied for borough b.
 * Returns 0, MDB_NOTFOUND (none) or an LMDB code. */
int crr_store_read_last_arrival(crr_store_read_t *r, unsigned b, int64_t *sec);

/* The text a hashed cell stands for (trainer ids), borrowed until
 * crr_store_read_end, with its length in *len; NULL when unknown. */
const char *crr_store_read_name(crr_store_read_t *r, uint64_t hash, size_t *len);

/* ---- the configuration the aggregator runs with ------------------------
 * The aggregator records its windows, max age and reference data in the meta
 * database at start (key "config", versioned, CRR_STORE_CONFIG_VERSION), so
 * that `crrmon query --data-dir` answers exactly as its snapshots do without
 * being given the config. A read-only open takes the recorded windows and
 * max age when opts give none; the recorded reference data is kept in the
 * handle (crr_store_refdata). */
#define CRR_STORE_CONFIG_VERSION 1u

struct crr_refdata;

/* Records the store's windows and max age (from its opts) and ref (NULL =
 * none: rate rows absent) in one committed write transaction, replacing what
 * was recorded before, and keeps a copy for crr_store_refdata.
 * Returns 0, CRR_EINVAL (read-only store), -ENOMEM or an LMDB code. */
int crr_store_record_config(crr_store_t *s, const struct crr_refdata *ref);

/* The reference data recorded in the store (read at open, or by
 * crr_store_record_config), or NULL when none was recorded. Borrowed: valid
 * until crr_store_close or the next crr_store_record_config. */
const struct crr_refdata *crr_store_refdata(const crr_store_t *s);

/* Sizes of the store, for /api/v1/stats and the bounded-size test. */
typedef struct crr_store_stat {
    uint64_t agg_keys;   /* day buckets (agg database entries) */
    uint64_t record_ids; /* remembered record ids */
    uint64_t gauge_keys; /* staff_headcount statements */
    uint64_t snapshots;  /* stored snapshots */
    uint64_t rejects;    /* stored rejects */
    uint64_t pages_used; /* pages in the trees of every database (branch, leaf, overflow) */
    uint64_t page_size;  /* bytes per page */
    uint64_t last_pgno;  /* highest page number used in the file (its high-water mark) */
    uint64_t map_size;   /* the map size in bytes */
} crr_store_stat_t;

/* Fills *out in one read transaction (any thread). Returns 0 or an LMDB code. */
int crr_store_stat(crr_store_t *s, crr_store_stat_t *out);

/* Prunes in one write transaction: day buckets, record ids and superseded
 * headcount statements older than max_age_days before now_sec; snapshots
 * taken more than snapshot_max_age_sec ago and rejects older than
 * reject_max_age_sec (0 = keep those forever). Returns 0, CRR_EINVAL
 * (read-only) or an LMDB code. */
int crr_store_prune(crr_store_t *s, int64_t now_sec, int64_t snapshot_max_age_sec,
                    int64_t reject_max_age_sec);

#endif
