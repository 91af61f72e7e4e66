/* datadir: the one owner of a data folder's layout and of the file-level
 * rules every writer in it follows.
 *
 * A data folder (DATA_DIR) belongs to one daemon at a time:
 *   lock            flock(2) held for the daemon's life; holds its pid
 *   store/          the aggregator's LMDB environment (state/store.h)
 *   spool/          the collector's LMDB environment (collector/spool.h)
 *   endpoints.json  the aggregator's bound endpoints, for the CLI
 *   snapshots/      the file sinks' default output folder
 *   files-read      the collector's list of files its spools read (collector/seen.h)
 *
 * Rules: folders this module creates get mode CRR_DATADIR_MODE (0700, the
 * owner only; an existing folder keeps its mode); a file that a reader must
 * never see half written is written with crr_datadir_write_file (temporary
 * file, fsync, rename, fsync of the folder).
 *
 * Plain POSIX only: no LMDB, no zmq, no logging (callers word the messages),
 * so the sinks may use it too. Thread-safe: no state. */
#ifndef CRR_DATADIR_H
#define CRR_DATADIR_H

#include <stddef.h>
#include <sys/types.h>

/* The names inside a data folder. */
#define CRR_DATADIR_LOCK "lock"                /* the lock file */
#define CRR_DATADIR_STORE "store"              /* aggregator LMDB folder */
#define CRR_DATADIR_SPOOL "spool"              /* collector LMDB folder */
#define CRR_DATADIR_ENDPOINTS "endpoints.json" /* aggregator endpoints */
#define CRR_DATADIR_SNAPSHOTS "snapshots"      /* default file sink folder */
#define CRR_DATADIR_FILES_READ "files-read"    /* collector's files-read list */

/* Mode of every folder crr_datadir_mkdirs creates. */
#define CRR_DATADIR_MODE 0700

/* Writes "dir/name" into buf. Returns 0, or -ENAMETOOLONG when it does not
 * fit in len bytes (buf then holds a truncated, terminated string). */
int crr_datadir_path(char *buf, size_t len, const char *dir, const char *name);

/* mkdir -p: creates dir and each missing parent with mode CRR_DATADIR_MODE
 * (less the umask); folders that exist are left as they are. Returns 0,
 * -ENOTDIR when dir (or a parent) exists but is not a folder,
 * -ENAMETOOLONG, -EINVAL for "" or -errno of mkdir. */
int crr_datadir_mkdirs(const char *dir);

/* Creates dir when missing (crr_datadir_mkdirs), then takes an exclusive,
 * non-blocking flock on dir/lock and writes our pid into it. The kernel
 * drops the lock when the process ends, kill -9 included. Returns 0 and
 * *fd (close-on-exec; keep it open to keep the lock); CRR_ELOCKED when
 * another process holds it, with *holder its pid as written in the file (0
 * when unknown: the holder has not written it yet); or -errno. *fd is -1
 * and *holder 0 unless said otherwise. */
int crr_datadir_lock(const char *dir, int *fd, long *holder);

/* Words a lock holder for a refusal message: "1234", or "unknown" when
 * holder is 0. Returns buf. */
char *crr_datadir_holder_text(long holder, char *buf, size_t len);

/* Releases a lock taken by crr_datadir_lock and sets *fd to -1; nothing
 * when *fd is -1. The lock file stays (its pid is stale from then on). */
void crr_datadir_unlock(int *fd);

/* Replaces path with len bytes of data atomically: writes "path.tmp" (mode
 * exactly mode, also over a temporary file a crash left), fsyncs it, renames it over path, and
 * fsyncs the folder so the rename survives a crash. A reader sees the old content or the new one,
 * never a mix; on failure path is untouched and the temporary file removed. One writer per path at
 * a time (the folder's lock or the caller's thread). Returns 0 or -errno. */
int crr_datadir_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* fsyncs the folder that holds path (the part before its last '/', "." when
 * none). Returns 0 or -errno. */
int crr_datadir_sync_parent(const char *path);

#endif
