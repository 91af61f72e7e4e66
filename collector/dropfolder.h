/* dropfolder: the run loop's side of `crrmon-collector --watch DIR`.
 *
 * Ties the drop folder (watch.h) to the spool: hands out complete files as
 * inputs, and finishes a file only when
 * that cannot lose data: a file read to its end waits until every event
 * spooled up to then is acknowledged (the Ack also brings the aggregator's
 * rejections for the report); then the report is written, the file moved to
 * DIR/done/, and only then its checkpoint deleted from the spool.
 * Crash safety: the end-of-file checkpoint is committed with the file's last
 * events, before the file can be finished. A crash before the move leaves
 * the file in DIR with a checkpoint at its end: after the restart it is
 * read from there (nothing), waits for the Acks again, and moves. A crash
 * between the move and the checkpoint's deletion (crash point
 * drop_after_move) leaves a checkpoint that names a file no longer there:
 * crr_drop_sweep deletes it at the next start, before any file is handed
 * out. Safe: a checkpoint only says where to resume reading the same file
 * (same device, inode and first bytes, not shorter; collector.c), and that
 * file has left DIR with every event acknowledged, so nothing is left to
 * resume or send. Needed: while done/NAME exists a new DIR/NAME has another
 * inode and is read whole anyway, but once done/ is cleared the file system
 * may give its inode to the next file, and a new file with the same first
 * bytes (a cumulative export) would resume after the old offset, its first
 * lines skipped.
 * A crash after a file's mark "drop:KEY" is committed (below) and before
 * its first group commits its checkpoint (crash point drop_after_mark)
 * leaves a mark with no checkpoint. A file still in DIR is read from its
 * start again (no checkpoint), which sets its mark anew; for a file that
 * has left DIR crr_drop_sweep deletes the mark: nothing of the file was
 * spooled (its events and rejects are committed only with its checkpoint).
 * The report: every reject of the file is stored in the spool's rejects
 * (its lines at the edge, in the transaction of their group; the
 * aggregator's rejections when their Ack comes), so the report is built
 * from there when the file finishes: the rejects naming the file from the
 * reject id noted when its reading began (the spool mark "drop:KEY", set
 * when it is read from its start, kept across restarts, deleted with the
 * checkpoint). A restart in the middle of a file loses no row.
 * Does not: read files or talk to the aggregator. One thread. */
#ifndef CRR_DROPFOLDER_H
#define CRR_DROPFOLDER_H

#include "err.h"
#include "spool.h"

#include <stddef.h>
#include <stdint.h>

typedef struct crr_drop crr_drop_t;

/* Opens the drop folder dir (watch.h). Returns 0 and *out, or -errno (logged). */
int crr_drop_open(const char *dir, int64_t settle_ms, crr_drop_t **out);
/* Frees, nulls *dp; idempotent (files not finished stay in DIR). */
void crr_drop_close(crr_drop_t **dp);
/* The fd to poll (POLLIN), or -1, and the longest wait before
 * crr_drop_next may have a file (ms). */
int crr_drop_fd(const crr_drop_t *d);
long crr_drop_timeout(const crr_drop_t *d, uint64_t now_ms);
/* The next complete file to read ("DIR/NAME" into path, cap bytes): 1, or
 * 0 when none is complete yet. */
int crr_drop_next(crr_drop_t *d, uint64_t now_ms, char *path, size_t cap);
/* Whether path is a drop-folder file being read or waiting to finish. */
int crr_drop_owns(const crr_drop_t *d, const char *path);
/* Reading of path (checkpoint key key) begins: from its start (resumed 0:
 * the next reject id is noted as the mark "drop:KEY", in a spool txn of its
 * own; no txn may be open) or after its checkpoint (resumed 1: the mark
 * kept from before is used). Returns 0 or a spool error. */
int crr_drop_started(crr_drop_t *d, const char *path, const char *key, int resumed,
                     crr_spool_t *spool);
/* The file path was read to its end (ok) or failed to open or read (!ok:
 * left in DIR, tried again once it changes). ok: it finishes once
 * acknowledged through seq last_seq (the spool's last seq after the commit
 * that holds its end checkpoint); key is its checkpoint key ("" = none). */
void crr_drop_read_end(crr_drop_t *d, const char *path, int ok, uint64_t last_seq, const char *key);
/* Finishes every read file whose events are acknowledged through acked_seq:
 * report, move to DIR/done/, then its checkpoint deleted in a spool txn of
 * its own (no txn may be open). Returns 0 (a move that failed is logged and
 * retried on the next call) or a spool error. */
int crr_drop_finish(crr_drop_t *d, uint64_t acked_seq, crr_spool_t *spool);
/* Deletes the checkpoints (and marks) that a crash between a file's move to
 * done/ and its checkpoint's deletion left behind: those of this folder
 * (keys DIR/NAME with a mark "drop:KEY"; a named input's checkpoint has no
 * mark) whose file is no longer in DIR and whose events are acknowledged
 * (the file is in done/ with the checkpoint's device and inode: moved by
 * crr_drop_finish, which moves only after the Ack; or the spool holds no
 * unacknowledged event); and the marks "drop:KEY" of this folder that have
 * no checkpoint and whose file is no longer in DIR (a crash before the
 * file's first checkpoint: nothing of it was spooled). Call once at the
 * start, before crr_drop_next, with no txn open. Returns 0 or a spool error
 * (-ENOMEM). */
int crr_drop_sweep(crr_drop_t *d, crr_spool_t *spool);
/* Files read and waiting for their Acks. */
size_t crr_drop_pending(const crr_drop_t *d);

#endif
