/* filesink: what every file-per-snapshot sink shares (JSON Lines, CSV, ...):
 * resolving and creating the output folder at open, the file name
 * <dir>/<id>.<ext>, the safe-id check, the atomic write (temp + fsync +
 * rename through crr_datadir_write_file of common/datadir.h) and locate/close. A file sink keeps
 * only its format: it renders the snapshot into a buffer and calls crr_filesink_commit. */
#ifndef CRR_FILESINK_H
#define CRR_FILESINK_H

#include "sink.h"

#include <stddef.h>

/* Opens a file-sink instance writing <dir>/<id>.<ext>, dir being cfg_dir when
 * non-empty, else the host's snapshot folder; with latest, each write also
 * replaces <dir>/<schedule>-latest.<ext> (atomically) with the same bytes.
 * key names the config key in errors (e.g. "sink.csv.dir"); ext is borrowed
 * (a string literal). Creates the folder if missing. Returns 0 and *state,
 * CRR_ECONFIG, -errno or -ENOMEM, with d explaining. */
int crr_filesink_open(const crr_sink_section_t *section, const char *cfg_dir, int latest,
                      const char *key, const char *ext, void **state, crr_diag_t *d);

/* Writes buf[0..len) as the file of snapshot id, atomically, then (when the
 * instance keeps one, and schedule is a safe name other than "on-demand")
 * the schedule's latest copy.
 * Returns CRR_SINK_OK, CRR_SINK_FATAL (the id is not a safe file name) or
 * CRR_SINK_RETRY (I/O error), with d explaining. */
int crr_filesink_commit(void *state, const char *id, const char *schedule, const char *buf,
                        size_t len, crr_diag_t *d);

/* sink ops: the file a snapshot id is (or would be) written to; 0 or CRR_ENOTFOUND. */
int crr_filesink_locate(void *state, const char *id, char *buf, size_t len);

/* The JSON Lines text of snapshot s (jsonl.c's layout: a header line, then
 * one line per value) into a malloc'd *out of *outlen bytes; shared with the
 * webhook's `body = jsonl`. Returns 0 or -ENOMEM / -EIO. */
int crr_sink_jsonl_render(const Crrmon__V1__Snapshot *s, char **out, size_t *outlen);

/* sink ops: frees the instance and nulls *state. */
void crr_filesink_close(void **state);

#endif
