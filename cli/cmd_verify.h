/* cmd_verify: `crrmon verify`, a read-only check of a data folder's LMDB files. */
#ifndef CRR_CMD_VERIFY_H
#define CRR_CMD_VERIFY_H

/* Runs `crrmon verify --data-dir DIR`; argv[0] is "verify". Checks every
 * LMDB environment found in DIR (store/ of an aggregator, spool/ of a
 * collector, or DIR itself when it holds data.mdb): the file size against
 * what LMDB's meta page says it needs (common/lmdbx.h), then opens it
 * read-only and walks every named database, reading every key and value,
 * and compares the count with LMDB's own. Prints one line per database
 * (entries) and per problem. Safe beside a running daemon.
 * Returns the exit code: 0 (every file is sound), 1 (a problem was found or
 * nothing to check), 64 (usage). */
int crr_cmd_verify(int argc, char **argv);

#endif
