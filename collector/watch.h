/* watch: the drop folder of `crrmon-collector --watch DIR`: which files in
 * DIR are complete and may be read, and where they go when done.
 *
 * A file is a candidate when its name ends in .jsonl, .jsonl.gz or .csv and
 * does not start with '.' (write "NAME.tmp" or ".NAME" and rename it to its
 * final name: that is the safe way to drop a file). It is complete, and
 * handed out by crr_watch_next, when it was renamed into DIR (inotify
 * IN_MOVED_TO: at once), or, written in place, when its writer closed it
 * (IN_CLOSE_WRITE after its last IN_CREATE/IN_MODIFY) and its size, mtime
 * and ctime have not changed for settle_ms since: a file still open for
 * writing waits however long its writer pauses. Files with no open/close
 * history complete once unchanged for settle_ms alone: those already in DIR
 * when the watch began (their writer may have closed them before), all
 * files after an inotify queue overflow (a close may have been lost), and
 * every file without inotify (NFS). Limits: a writer that keeps such a file
 * open and pauses longer than settle_ms, or two writers of one file at once
 * (the first close counts), must rename instead. inotify says when to look;
 * a rescan of DIR every min(settle_ms, 1s) is the fallback for lost events.
 * Subfolders, other names and other file types are ignored.
 *
 * The caller reads a handed-out file, then either calls crr_watch_done
 * (moved to DIR/done/; the caller writes DIR/rejected/NAME.errors.csv
 * first when there were problems) or crr_watch_failed (left in place, handed out
 * again only once its size, mtime or ctime changes: fixed, or chmod'ed).
 * Does not: read files, know checkpoints (collector.c keeps those in the
 * spool). One thread. */
#ifndef CRR_WATCH_H
#define CRR_WATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct crr_watch crr_watch_t;

/* Watches dir (which must exist), creating dir/done and dir/rejected, and
 * scans it once (files already there settle first). Returns 0 and *out,
 * -ENOMEM, or -errno (logged) when dir cannot be read or the subfolders not
 * made. inotify that cannot be set up is logged and rescans alone are used. */
int crr_watch_open(const char *dir, int64_t settle_ms, crr_watch_t **out);
/* Stops watching, frees, nulls *wp; idempotent. */
void crr_watch_close(crr_watch_t **wp);
/* The inotify fd to poll for input (POLLIN), or -1 when there is none. */
int crr_watch_fd(const crr_watch_t *w);
/* Milliseconds until crr_watch_poll has work (a rescan or a settle due); 0
 * when a complete file waits to be handed out. */
long crr_watch_timeout(const crr_watch_t *w, uint64_t now_ms);
/* Reads pending inotify events (never blocks) and rescans when due.
 * Returns 0 or -errno (a failed rescan is logged and retried). */
int crr_watch_poll(crr_watch_t *w, uint64_t now_ms);
/* Hands out the next complete file, oldest first: its path ("DIR/NAME")
 * into path (cap bytes). The file is then the caller's until
 * crr_watch_done or crr_watch_failed. Returns 1 (path set) or 0 (none). */
int crr_watch_next(crr_watch_t *w, uint64_t now_ms, char *path, size_t cap);
/* Whether path is a file of this folder handed out by crr_watch_next. */
int crr_watch_owns(const crr_watch_t *w, const char *path);
/* path could not be read: it stays in DIR and is handed out again once it
 * changes. */
void crr_watch_failed(crr_watch_t *w, const char *path);
/* path is read and every event of it acknowledged: renames it to
 * DIR/done/NAME (DIR/done/NAME.1, .2 ... when that name is taken) and fsyncs
 * both folders. The new name goes to moved (cap bytes, may be NULL). A file
 * removed meanwhile is logged and forgotten (0). Returns 0 or -errno
 * (logged; the file then stays handed out and the call may be repeated). */
int crr_watch_done(crr_watch_t *w, const char *path, char *moved, size_t cap);
/* Where path's report goes: DIR/rejected/NAME.errors.csv into buf (cap
 * bytes). Returns 0, or -EINVAL when path is not a file of this folder. */
int crr_watch_report_path(const crr_watch_t *w, const char *path, char *buf, size_t cap);

#endif
