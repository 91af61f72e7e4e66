/* outbox: the store's records of snapshot deliveries (one per snapshot and
 * sink instance), shared by the aggregator (which writes them) and the CLI
 * (`crrmon status` reads them, `crrmon export --retry` revives dead ones).
 * It owns the record format and its two databases in the store's LMDB
 * environment; it does not write any sink (aggregator/deliver.c does) nor
 * decide when to retry.
 *
 *   outbox     sink name | NUL | be64(snapshot counter) -> record (below): a
 *              delivery not done yet, pending or dead. The counter is the
 *              snapshot id's suffix, so one sink's deliveries sort in the
 *              order their snapshots were taken.
 *   delivered  snapshot id | NUL | sink name -> where it was written (the
 *              file a file sink wrote, not NUL-terminated; "" when the sink
 *              names none, and in records written before it was kept): a
 *              delivery done.
 *
 * A record: be64 queued_sec | be64 last_try_sec | be32 attempts | u8 dead |
 * u8 id length | id | last error text (not NUL-terminated).
 *
 * Threading: every function works inside the caller's transaction; txn
 * rules are LMDB's (one write txn at a time per environment, a txn used by
 * the thread that began it). */
#ifndef CRR_OUTBOX_H
#define CRR_OUTBOX_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define CRR_OUTBOX_DB "outbox"
#define CRR_DELIVERED_DB "delivered"
#define CRR_OUTBOX_SINK_MAX 64    /* bytes of a sink instance name, NUL included */
#define CRR_OUTBOX_ID_MAX 128     /* bytes of a snapshot id, NUL included */
#define CRR_OUTBOX_ERROR_MAX 512  /* bytes of the last error kept, NUL included */
#define CRR_OUTBOX_WHERE_MAX 4352 /* bytes of a delivery's location kept, NUL included */

/* The two databases (opened by crr_outbox_open). */
typedef struct crr_outbox_dbs {
    MDB_dbi outbox;    /* pending and dead deliveries */
    MDB_dbi delivered; /* deliveries done */
} crr_outbox_dbs_t;

/* One delivery not done yet. */
typedef struct crr_delivery {
    char sink[CRR_OUTBOX_SINK_MAX];   /* sink instance name */
    char id[CRR_OUTBOX_ID_MAX];       /* snapshot id */
    uint64_t seq;                     /* the snapshot's counter (order within the sink) */
    int64_t queued_sec;               /* when the snapshot was taken (queued) */
    int64_t last_try_sec;             /* last attempt, 0 = never tried */
    uint32_t attempts;                /* failed attempts so far */
    int dead;                         /* 1: failed past the limit (or permanently); not retried */
    char error[CRR_OUTBOX_ERROR_MAX]; /* why the last attempt failed ("" = none) */
} crr_delivery_t;

/* Opens both databases in txn (creating them unless the env is read-only).
 * Returns 0, MDB_NOTFOUND (a read-only env of a store that never had them:
 * nothing is queued) or an LMDB code. */
int crr_outbox_open(MDB_txn *txn, crr_outbox_dbs_t *dbs);

/* The counter of snapshot id ("...-000123" -> 123), or 0 when id has none. */
uint64_t crr_outbox_seq_of(const char *id);

/* Queues snapshot id for each of the n sinks (pending, queued at now_sec).
 * A sink that already has it queued or delivered is left alone.
 * Returns 0, CRR_EINVAL (a name or id too long) or an LMDB code. */
int crr_outbox_enqueue(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                       const char *const *sinks, size_t n, int64_t now_sec);

/* The oldest pending (not dead) delivery of sink into *out. Returns 0,
 * MDB_NOTFOUND (nothing pending) or an LMDB code. */
int crr_outbox_head(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink,
                    crr_delivery_t *out);

/* Writes d back (attempts, dead, error, last_try changed). 0 or an LMDB code. */
int crr_outbox_update(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const crr_delivery_t *d);

/* Marks d done: removes its outbox record, records it delivered, with where
 * it was written (where may be NULL or "": none; at most CRR_OUTBOX_WHERE_MAX
 * - 1 bytes kept). 0 or an LMDB code. */
int crr_outbox_done(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink, const char *id,
                    const char *where);

/* Whether sink delivered snapshot id: 1, 0, or an LMDB code (negative or > 1). */
int crr_outbox_is_delivered(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                            const char *sink);

/* As crr_outbox_is_delivered, and when 1, where it was written into
 * where[0..len) (NUL-terminated; "" when none was recorded). */
int crr_outbox_delivered_where(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                               const char *sink, char *where, size_t len);

/* Whether sink has snapshot id queued: 1 pending, 2 dead, 0 not queued (*out
 * filled when found, may be NULL), or a negative LMDB-free code. */
int crr_outbox_find(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id, const char *sink,
                    crr_delivery_t *out);

/* Makes every dead delivery of sink pending again with no attempts counted.
 * Sets *n to how many. Returns 0 or an LMDB code. */
int crr_outbox_retry(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink, size_t *n);

/* Calls fn for every delivery not done, by sink then order. Stops at fn's
 * non-zero value and returns it; else 0 or an LMDB code. */
int crr_outbox_foreach(MDB_txn *txn, const crr_outbox_dbs_t *dbs,
                       int (*fn)(const crr_delivery_t *d, void *ud), void *ud);

/* Per-sink summary of what is not delivered yet. */
typedef struct crr_outbox_sum {
    char sink[CRR_OUTBOX_SINK_MAX]; /* sink instance name */
    uint64_t pending;               /* deliveries waiting (being retried or not tried yet) */
    uint64_t dead;                  /* deliveries failed past the limit */
    int64_t oldest_sec;             /* queued_sec of the oldest pending one, 0 = none */
} crr_outbox_sum_t;

/* Fills out[0..max) with one summary per sink that has records, by name;
 * sets *n. Returns 0 or an LMDB code. */
int crr_outbox_summary(MDB_txn *txn, const crr_outbox_dbs_t *dbs, crr_outbox_sum_t *out, size_t max,
                       size_t *n);

/* Deletes every delivered record, and every queued delivery, of snapshot
 * ids for which keep(id, ud) returns 0 (pruned snapshots). 0 or an LMDB code. */
int crr_outbox_prune(MDB_txn *txn, const crr_outbox_dbs_t *dbs,
                     int (*keep)(const char *id, void *ud), void *ud);

#endif
