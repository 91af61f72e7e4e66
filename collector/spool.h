/* spool: the collector's durable LMDB spool.
 *
 * One LMDB environment (DATA_DIR/spool) holding, in named databases:
 *   meta        format (be32 on-disk format version, CRR_SPOOL_FORMAT_VERSION),
 *               source_id, epoch (random 64-bit, chosen when the spool is
 *               created, or anew by crr_spool_new_epoch), next_seq, acked_seq, bytes and count of
 *               spooled events, "mark:NAME" -> be64 (crr_spool_mark_*);
 *   events      key = 8-byte big-endian seq (append-only, MDB_APPEND), value =
 *               CRR_SPOOL_EVENT_HDR bytes of origin (4-byte BE file id, 8-byte
 *               BE line) followed by the packed Event (source_id and seq set);
 *   files       4-byte BE file id -> file name as the operator gave it;
 *   file_ids    file name -> 4-byte BE file id;
 *   checkpoints resume key (real path) -> 8-byte BE byte offset, 8-byte BE line,
 *               then the file's identity: 8-byte BE st_dev, 8-byte BE st_ino,
 *               4-byte BE fingerprint length, 8-byte BE fingerprint hash (44
 *               bytes; a 16-byte value, from before identities, still reads);
 *   rejects     common/rejects.h records (bad input lines, aggregator rejections).
 *
 * Write model: one write transaction at a time, opened by crr_spool_begin and
 * ended by crr_spool_commit/crr_spool_abort. The reader groups many lines, the
 * file checkpoint and the rejects of those lines into one transaction, so a
 * file resumes after kill -9 exactly at the last committed line. Functions
 * that only read use the open write transaction when there is one, otherwise a
 * short read transaction of their own.
 *
 * Bounded: the sum of event record sizes never exceeds max_bytes; an append
 * that would pass it fails with CRR_ESPOOLFULL and writes nothing (the caller
 * stops reading; nothing is dropped). Only crr_spool_release deletes events,
 * and only those at or below an acknowledged sequence.
 *
 * A full disk or map never stops releases: a commit that grows the spool
 * (events, checkpoints, rejects of unread lines) first asks
 * crr_lmdb_headroom for room plus a reserve, and fails with ENOSPC, EDQUOT
 * or MDB_MAP_FULL (nothing written) when there is none. Releases and the
 * aggregator's rejections recorded before them may use the reserve, so
 * acknowledged events are always deleted and their pages read into again.
 *
 * Threading: a spool is used by one thread. */
#ifndef CRR_SPOOL_H
#define CRR_SPOOL_H

#include "codec.h"
#include "err.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of origin header in front of each packed event in the events db. */
#define CRR_SPOOL_EVENT_HDR 12

/* On-disk format version, recorded in meta ("format", 4-byte BE) when the
 * spool is created and checked at every open:
 *   1  the layout above (a spool without the key was written before versions
 *      were kept and is version 1: the open records the key, in the open's
 *      one write transaction)
 * A spool of a newer version is refused with CRR_EVERSION (logged with both
 * versions; the collector exits 78) and left as it is. A change of the
 * layout raises the number and migrates older spools in that transaction. */
#define CRR_SPOOL_FORMAT_VERSION 1u
/* The meta key that holds the format version. */
#define CRR_SPOOL_META_FORMAT "format"

typedef struct crr_spool crr_spool_t;

/* How to open a spool. */
typedef struct crr_spool_opts {
    const char *dir;       /* LMDB folder (DATA_DIR/spool); created when missing */
    const char *source_id; /* this collector's source id; must match an existing spool's */
    uint64_t max_bytes;    /* limit on spooled event data (sum of record sizes), > 0 */
    uint64_t map_size;     /* LMDB map size; 0 = derived from max_bytes (3x + 64 MiB) */
} crr_spool_opts_t;

/* Opens (creating when new) the spool in o->dir. A new spool gets a random
 * epoch from getrandom(), next_seq 1 and the format version. Returns 0 and
 * *out, CRR_EVERSION when a newer crrmon wrote it (logged), CRR_ECONFIG when
 * the spool belongs to another source id (message logged), CRR_EINVAL for bad
 * options, -errno or an LMDB code (MDB_CORRUPTED: a format value that is not
 * 4 bytes). */
int crr_spool_open(const crr_spool_opts_t *o, crr_spool_t **out);

/* Aborts any open write transaction, closes the env, frees, nulls *sp.
 * Idempotent; NULL is fine. */
void crr_spool_close(crr_spool_t **sp);

/* The source id (borrowed; valid until close). */
const char *crr_spool_source_id(const crr_spool_t *s);
/* The epoch chosen when the spool was created (or by crr_spool_new_epoch). */
uint64_t crr_spool_epoch(const crr_spool_t *s);
/* The sequence the next append gets (counts appends of the open txn). */
uint64_t crr_spool_next_seq(const crr_spool_t *s);
/* Highest sequence released by an Ack (0 = none). */
uint64_t crr_spool_acked_seq(const crr_spool_t *s);
/* Events currently spooled, and their bytes (including the open txn). */
uint64_t crr_spool_count(const crr_spool_t *s);
uint64_t crr_spool_bytes(const crr_spool_t *s);
/* The configured limit on spooled bytes. */
uint64_t crr_spool_max_bytes(const crr_spool_t *s);
/* The LMDB environment (borrowed), e.g. for listing rejects. */
MDB_env *crr_spool_env(const crr_spool_t *s);

/* Starts the write transaction. Returns 0, CRR_EINVAL if one is open, or an
 * LMDB code. */
int crr_spool_begin(crr_spool_t *s);
/* Stores the counters and commits durably. On failure the transaction is
 * gone and the in-memory counters are back at the last commit. Returns 0,
 * CRR_EINVAL when none is open, or an LMDB code. */
int crr_spool_commit(crr_spool_t *s);
/* Drops the open transaction (if any) and restores the counters. */
void crr_spool_abort(crr_spool_t *s);
/* Whether a write transaction is open. */
int crr_spool_is_open(const crr_spool_t *s);

/* Appends e inside the open txn under the next sequence: sets e->seq and
 * packs it with the spool's source_id (e->source_id is restored afterwards,
 * so e stays the caller's to free). file (NULL = none) and line record where
 * the event came from, for rejections that come back later. *seq (may be
 * NULL) gets the sequence. Returns 0; CRR_ESPOOLFULL when the record would
 * pass max_bytes (nothing written; the txn stays usable); CRR_EINVAL with no
 * txn; an LMDB code (MDB_MAP_FULL...; the txn must then be aborted). */
int crr_spool_append(crr_spool_t *s, Crrmon__V1__Event *e, const char *file, uint64_t line,
                     uint64_t *seq);

/* Stores a reject (diag's file/line/field/code/reason, the event seq or 0,
 * raw text or NULL) inside the open txn. Returns 0, CRR_EINVAL with no txn,
 * -ENOMEM or an LMDB code. */
int crr_spool_reject(crr_spool_t *s, const crr_diag_t *d, uint64_t seq, const char *raw);

/* Where a file input was read to, and which file it was (its identity).
 * A file that was replaced under the same name has another device/inode or
 * other first bytes; the collector compares them before resuming. */
typedef struct crr_spool_ckpt {
    uint64_t offset;  /* bytes consumed (the start of the next line) */
    uint64_t line;    /* lines consumed */
    int has_identity; /* 0: written before identities were kept (dev..fp_hash are 0) */
    uint64_t dev;     /* st_dev of the file */
    uint64_t ino;     /* st_ino of the file */
    uint32_t fp_len;  /* bytes the fingerprint covers (min(4096, offset) when taken) */
    uint64_t fp_hash; /* hash of the file's first fp_len bytes */
} crr_spool_ckpt_t;

/* Records, inside the open txn, that input `key` (a file's real path) has
 * been consumed as cp says (its identity is stored when cp->has_identity).
 * Returns 0, CRR_EINVAL, or an LMDB code. */
int crr_spool_checkpoint_set(crr_spool_t *s, const char *key, const crr_spool_ckpt_t *cp);
/* Deletes input `key`'s checkpoint inside the open txn (the drop folder,
 * once the file has moved to done/). Returns 0 (also when there was none),
 * CRR_EINVAL, or an LMDB code. */
int crr_spool_checkpoint_del(crr_spool_t *s, const char *key);
/* Reads a checkpoint into *cp (one written by an older collector, without
 * identity, reads with has_identity 0). Returns 0, CRR_ENOTFOUND, or an
 * LMDB code. */
int crr_spool_checkpoint_get(crr_spool_t *s, const char *key, crr_spool_ckpt_t *cp);
/* Calls fn(ud, key, cp) for every checkpoint whose key starts with prefix,
 * in key order (the open txn's view, or a read txn of its own; fn must not
 * write to the spool). Keys longer than PATH_MAX - 1 bytes are skipped.
 * Returns 0, fn's non-zero value (which stops it), or an LMDB code. */
int crr_spool_checkpoint_foreach(crr_spool_t *s, const char *prefix,
                                 int (*fn)(void *ud, const char *key, const crr_spool_ckpt_t *cp),
                                 void *ud);

/* Deletes every event with seq <= durable_seq (an Ack's cumulative sequence)
 * and raises acked_seq. Uses the open txn, or its own committed one when none
 * is open. *deleted (may be NULL) gets the number removed. Returns 0,
 * CRR_EINVAL (logged, nothing changed) when durable_seq >= next_seq (a seq
 * never handed out), or an LMDB code. */
int crr_spool_release(crr_spool_t *s, uint64_t durable_seq, uint64_t *deleted);

/* Starts a fresh epoch (a new random one) for the events still spooled, in
 * one committed txn: the first unacknowledged event becomes seq 1, the rest
 * follow in order (their packed seq rewritten), acked_seq becomes 0. For when
 * the aggregator lost the old epoch's state: events released before cannot be
 * sent again from here. *old_epoch (may be NULL) gets the previous epoch.
 * Returns 0, CRR_EINVAL while a txn is open, -errno, or an LMDB/codec error
 * (nothing changed). */
int crr_spool_new_epoch(crr_spool_t *s, uint64_t *old_epoch);

/* Calls fn(ud, seq, packed_event, len) for spooled events with seq >=
 * from_seq in ascending order until fn returns non-zero or none are left. The
 * bytes are borrowed and valid only during the call. Returns 0 (also when fn
 * stopped it with a positive value), fn's negative value, or an LMDB code. */
int crr_spool_fetch(crr_spool_t *s, uint64_t from_seq,
                    int (*fn)(void *ud, uint64_t seq, const uint8_t *ev, size_t len), void *ud);

/* Where event seq came from: file name into file (cap bytes, "" if none),
 * *line, and (when ev is not NULL) the unpacked event (free with
 * crr_codec_free). Returns 0, CRR_ENOTFOUND (not spooled), CRR_EPARSE or an
 * LMDB code. */
int crr_spool_origin(crr_spool_t *s, uint64_t seq, char *file, size_t cap, uint64_t *line,
                     Crrmon__V1__Event **ev);

/* Number of stored rejects. Returns 0 and *n, or an LMDB code. */
int crr_spool_rejects_count(crr_spool_t *s, uint64_t *n);
/* The id the next stored reject gets (common/rejects.h numbers them last +
 * 1; 1 when none is stored), seen by the open txn or a read txn of its own.
 * Returns 0 and *id, or an LMDB code. */
int crr_spool_rejects_next_id(crr_spool_t *s, uint64_t *id);
/* crr_rejects_foreach over this spool's rejects with id >= from_id (the open
 * txn's view, or a read txn of its own). Returns 0, fn's non-zero value, or
 * an LMDB code. */
int crr_spool_rejects_foreach(crr_spool_t *s, uint64_t from_id,
                              int (*fn)(const char *json, size_t len, void *ud), void *ud);

/* Marks: small named 64-bit values kept in meta under "mark:" + name, for
 * the collector's own bookkeeping (the drop folder keeps the first reject
 * id of a file being read there). set and del need the open txn; get reads
 * the open txn or a read txn of its own. Names are at most 500 bytes.
 * Return 0, CRR_ENOTFOUND (get: no such mark), CRR_EINVAL, or an LMDB
 * code (del: 0 also when there was none). */
int crr_spool_mark_set(crr_spool_t *s, const char *name, uint64_t value);
int crr_spool_mark_get(crr_spool_t *s, const char *name, uint64_t *value);
int crr_spool_mark_del(crr_spool_t *s, const char *name);
/* Calls fn(ud, name, value) for every mark whose name starts with prefix, in
 * name order (the open txn's view, or a read txn of its own; fn must not
 * write to the spool). Returns 0, fn's non-zero value (which stops it), or
 * an LMDB code. */
int crr_spool_mark_foreach(crr_spool_t *s, const char *prefix,
                           int (*fn)(void *ud, const char *name, uint64_t value), void *ud);

#endif
