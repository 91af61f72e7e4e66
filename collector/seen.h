/* seen: the files a spool of this data folder has read, kept outside the
 * spool (DATA_DIR/files-read, one real path per line).
 *
 * A file's checkpoint lives in the spool, in the same transaction as its
 * events. If the spool is deleted or replaced, a new one has no checkpoints
 * and would read every named file again from line 1, counting events
 * without record_id twice. This list survives the spool: a named file that
 * is in it but has no checkpoint in the spool looks already read, and the
 * collector refuses to start (exit 78) unless told --new-spool.
 * A path is added only after the first spool commit that holds its
 * checkpoint, so a crash never lists a file the spool does not know. The
 * file (named CRR_DATADIR_FILES_READ in common/datadir.h) is rewritten
 * whole with crr_datadir_write_file: it is either the old list or the new one.
 * Paths with a newline are not listed (they cannot be, one per line).
 * One thread. */
#ifndef CRR_SEEN_H
#define CRR_SEEN_H

typedef struct crr_seen crr_seen_t;

/* Loads DATA_DIR/files-read (a missing file is an empty list). Returns 0
 * and *out, -ENOMEM, or -errno (the message is logged). */
int crr_seen_load(const char *data_dir, crr_seen_t **out);
/* Whether path is in the list. */
int crr_seen_has(const crr_seen_t *s, const char *path);
/* Adds path and rewrites the file atomically; nothing when already listed
 * or when path holds a newline. Returns 0, -ENOMEM or -errno (the list in
 * memory then still holds path; the file is the old one). */
int crr_seen_add(crr_seen_t *s, const char *path);
/* Frees, nulls *sp; idempotent. */
void crr_seen_free(crr_seen_t **sp);

#endif
