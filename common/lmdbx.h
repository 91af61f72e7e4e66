/* lmdbx: small helpers every LMDB user in crrmon shares: opening an
 * environment the same way (folder created, map size, named databases, stale
 * reader slots cleared after kill -9) and fixed-width big-endian keys so that
 * LMDB's byte order is numeric order. */
#ifndef CRR_LMDBX_H
#define CRR_LMDBX_H

#include <lmdb.h>
#include <stdint.h>

/* Opens (creating the folder when writable) an LMDB environment in dir with
 * the given map size, room for max_dbs named databases, and flags (MDB_NOTLS
 * is always added; pass MDB_RDONLY for readers such as the CLI). Runs
 * mdb_reader_check. Returns 0 and *out, -errno, or an LMDB code. */
int crr_lmdb_open(const char *dir, uint64_t map_size, unsigned max_dbs, unsigned flags,
                  MDB_env **out);

/* Opens the named database (creating it unless MDB_RDONLY env) inside txn.
 * Returns 0 or an LMDB code (MDB_NOTFOUND when a read-only env lacks it). */
int crr_lmdb_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *out);

/* Big-endian fixed-width encoders/decoders for keys. */
void crr_be64_put(uint8_t *p, uint64_t v);
uint64_t crr_be64_get(const uint8_t *p);
void crr_be32_put(uint8_t *p, uint32_t v);
uint32_t crr_be32_get(const uint8_t *p);

#endif
