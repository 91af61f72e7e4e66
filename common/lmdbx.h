/* lmdbx: small helpers every LMDB user in crrmon shares: opening an
 * environment the same way (folder created, map size, named databases, stale
 * reader slots cleared after kill -9) and fixed-width big-endian keys so that
 * LMDB's byte order is numeric order. */
#ifndef CRR_LMDBX_H
#define CRR_LMDBX_H

#include <lmdb.h>
#include <stdint.h>

/* crr_lmdb_open flag (not an LMDB one): an empty (0-byte) data.mdb is
 * initialised as a new environment instead of being refused. */
#define CRR_LMDB_ALLOW_EMPTY 0x40000000u

/* Opens (creating the folder when writable) an LMDB environment in dir with
 * the given map size, room for max_dbs named databases, and flags (MDB_NOTLS
 * is always added; pass MDB_RDONLY for readers such as the CLI, and
 * CRR_LMDB_ALLOW_EMPTY to accept an empty data file). Runs mdb_reader_check.
 *
 * A damaged data file is refused here, before any data page is touched (a
 * page past the end of the file would kill the process with SIGBUS): an
 * existing dir/data.mdb of 0 bytes gives CRR_EEMPTY (unless
 * CRR_LMDB_ALLOW_EMPTY and writable), one shorter than its meta page's last
 * page number + 1 times the page size gives CRR_ETRUNCATED; both are logged
 * with the sizes and what to do.
 * Returns 0 and *out, CRR_EEMPTY, CRR_ETRUNCATED, -errno, or an LMDB code
 * (MDB_INVALID: not an LMDB file or shorter than its two meta pages). */
int crr_lmdb_open(const char *dir, uint64_t map_size, unsigned max_dbs, unsigned flags,
                  MDB_env **out);

/* LMDB's own default number of reader slots, the one crr_lmdb_open asks for. */
#define CRR_LMDB_MAX_READERS 254u

/* crr_lmdb_open with max_readers reader slots (concurrent read transactions
 * of every process that has the environment open) instead of
 * CRR_LMDB_MAX_READERS. The slots are the lock file's: the first process to
 * open the environment sizes it, and one opening it beside that process gets
 * the size it finds (a warning is logged when that is fewer than asked). */
int crr_lmdb_open_readers(const char *dir, uint64_t map_size, unsigned max_dbs,
                          unsigned max_readers, unsigned flags, MDB_env **out);

/* Sizes of an open environment's data file: the file's size in bytes and the
 * size its current meta page needs ((last page number + 1) * page size). */
typedef struct crr_lmdb_size {
    uint64_t file_bytes;   /* st_size of data.mdb */
    uint64_t needed_bytes; /* (last_pgno + 1) * page_size */
    uint64_t page_size;    /* LMDB page size */
    uint64_t last_pgno;    /* highest page number in use */
} crr_lmdb_size_t;

/* Fills *out for env. Returns 0, -errno or an LMDB code. */
int crr_lmdb_size(MDB_env *env, crr_lmdb_size_t *out);

/* Makes room, before a write transaction that adds about grow_bytes of data
 * commits, while keeping a reserve for the transactions that only delete.
 *
 * Deleting needs free pages too: LMDB copies every page it changes and
 * records the pages it frees. A spool that filled its disk to the last byte
 * could then never delete what was acknowledged, and never read again. So a
 * writer that grows the data asks here first: the room is the file's
 * allocated tail past the last page in use plus the pages on LMDB's free
 * list; when that is less than grow_bytes plus the reserve (32 pages plus one
 * per 256 in use), the file is extended with posix_fallocate (up to the map
 * size), and when that fails the writer is refused and must abort, leaving
 * the reserve to deletes.
 * env must be opened without MDB_WRITEMAP. Uses a read txn of its own
 * (MDB_NOTLS lets it sit beside the caller's write txn).
 * Returns 0, ENOSPC/EDQUOT (disk full: nothing extended), MDB_MAP_FULL (the
 * map cannot hold it), -errno or an LMDB code. */
int crr_lmdb_headroom(MDB_env *env, uint64_t grow_bytes);

/* Opens the named database (creating it unless MDB_RDONLY env) inside txn.
 * Returns 0 or an LMDB code (MDB_NOTFOUND when a read-only env lacks it). */
int crr_lmdb_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *out);

/* Big-endian fixed-width encoders/decoders for keys. */
void crr_be64_put(uint8_t *p, uint64_t v);
uint64_t crr_be64_get(const uint8_t *p);
void crr_be32_put(uint8_t *p, uint32_t v);
uint32_t crr_be32_get(const uint8_t *p);

#endif
