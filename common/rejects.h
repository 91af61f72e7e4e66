/* rejects: the rejects store shared by the aggregator and the collector.
 *
 * Every rejected event or input line is kept, with its reason, in a named
 * LMDB database "rejects" inside the owner's environment: key = 8-byte
 * big-endian id (increasing), value = one JSON object (jansson):
 *   {"id":N,"at":"RFC3339 arrival","source":"id","epoch":"N","seq":"N",
 *    "file":"path","line":N,"field":"x.y","code":"too_old","reason":"text",
 *    "raw":"the line or event as JSON, possibly truncated"}
 * Fields that do not apply are left out. `crrmon rejects --data-dir` lists
 * them from either kind of data folder. Pruned by age. */
#ifndef CRR_REJECTS_H
#define CRR_REJECTS_H

#include "err.h"

#include <lmdb.h>
#include <stdint.h>

#define CRR_REJECTS_DB "rejects"
#define CRR_REJECTS_RAW_MAX 4096

typedef struct crr_reject {
    int64_t at_sec;         /* arrival time (crr_clock_now_sec) */
    const char *source_id;  /* sender's source id, or NULL */
    uint64_t epoch;         /* sender's epoch, 0 if none */
    uint64_t seq;           /* event sequence, 0 if none */
    const crr_diag_t *diag; /* file, line, field, code, reason */
    const char *raw;        /* the offending input as text, or NULL: any bytes (cut at
                               RAW_MAX on a character, invalid UTF-8 replaced by U+FFFD) */
} crr_reject_t;

/* Appends r to the rejects database dbi inside the write txn. Every string of
 * r may hold any bytes: each is stored as valid UTF-8, cut on a character
 * boundary; when the raw text cannot be stored the reject is stored without
 * it. A record is written whole or not at all: out of memory for any of
 * its members (id, code, reason...) is -ENOMEM, never a record without them.
 * Returns 0 or an LMDB code / -ENOMEM. */
int crr_rejects_put(MDB_txn *txn, MDB_dbi dbi, const crr_reject_t *r);

/* Calls fn(json_text, len, ud) for each stored reject, oldest first, starting
 * at id >= from_id. Stops early when fn returns non-zero (and returns that).
 * Returns 0 or an LMDB code. */
int crr_rejects_foreach(MDB_txn *txn, MDB_dbi dbi, uint64_t from_id,
                        int (*fn)(const char *json, size_t len, void *ud), void *ud);

/* Deletes rejects that arrived before cutoff_sec. *deleted (may be NULL) gets
 * the count. Returns 0 or an LMDB code. */
int crr_rejects_prune(MDB_txn *txn, MDB_dbi dbi, int64_t cutoff_sec, uint64_t *deleted);

/* Number of stored rejects. */
uint64_t crr_rejects_count(MDB_txn *txn, MDB_dbi dbi);

/* Where crr_rejects_list_dir stopped, for the caller's message. */
typedef enum crr_rejects_stage {
    CRR_REJECTS_AT_OPEN, /* opening the environment (a refused data folder) */
    CRR_REJECTS_AT_READ, /* beginning the read transaction */
    CRR_REJECTS_AT_DB,   /* opening the rejects database */
    CRR_REJECTS_AT_LIST, /* listing (fn's non-zero value, or an LMDB code) */
} crr_rejects_stage_t;

/* Lists the rejects of the LMDB environment in env_dir (a store/ or a
 * spool/ folder) for a reader beside the running daemon: opens it
 * MDB_RDONLY with the writer's map size (LMDB still needs write access to
 * its lock file) and, in one read transaction (a consistent view), calls
 * fn(json, len, ud) for the `limit` most recent rejects (0 = all), oldest
 * first. Returns 0, CRR_ENOTFOUND (no reject was ever stored there), fn's
 * non-zero value, or an LMDB / crr_lmdb_open code; *stage says where it
 * stopped. */
int crr_rejects_list_dir(const char *env_dir, uint64_t limit,
                         int (*fn)(const char *json, size_t len, void *ud), void *ud,
                         crr_rejects_stage_t *stage);

#endif
