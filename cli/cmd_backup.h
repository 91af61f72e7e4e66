/* cmd_backup: `crrmon backup` and `crrmon restore`, a hot copy of an
 * aggregator's store and the way back from one. */
#ifndef CRR_CMD_BACKUP_H
#define CRR_CMD_BACKUP_H

/* Runs `crrmon backup --data-dir DIR --out FILE`; argv[0] is "backup".
 * Opens DIR/store read-only beside a running aggregator (a read transaction
 * only: ingest is never locked out) and writes a compacted, consistent copy
 * of it (LMDB's mdb_env_copyfd2 with MDB_CP_COMPACT) to FILE, atomically
 * (FILE.tmp, fsync, rename, fsync of the folder). The copy is one LMDB data
 * file: every database, the recorded configuration (windows, max age,
 * reference data), the format version, the sources' sequences and the
 * stored snapshots. Returns the exit code: 0, 1 (copy or write failed), 64
 * (usage), 78 (no store in DIR, or a damaged one). */
int crr_cmd_backup(int argc, char **argv);

/* Runs `crrmon restore FILE --data-dir NEW`; argv[0] is "restore". Lays FILE
 * (a `crrmon backup`) out as NEW/store/data.mdb (copied, fsync'd, renamed
 * into place) under NEW's lock, so that a crrmon-aggregator started with
 * --data-dir NEW opens it; then opens it read-only to check it (format
 * version, size) and prints what it holds: the recorded configuration and
 * each source's applied sequence. Refuses a NEW that already holds a store
 * or that a daemon holds. Returns the exit code: 0, 1 (I/O), 64 (usage), 78
 * (FILE missing or not a sound store of a version this build reads: nothing
 * is left in NEW/store; NEW holds a store; NEW is locked). */
int crr_cmd_restore(int argc, char **argv);

#endif
