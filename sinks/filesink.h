/* filesink: what every file-per-snapshot sink shares (JSON Lines, CSV, ...):
 * resolving and creating the output folder at open, the file name (the
 * `file_name` template, default {schedule}-{as_of}-{id}.<ext>), the safe-name
 * check, the atomic write (temp + fsync + rename through
 * crr_datadir_write_file of common/datadir.h) and locate/close. A file sink
 * keeps only its format: it renders the snapshot into a buffer and calls
 * crr_filesink_commit.
 *
 * File names are a pure function of the snapshot (its id, schedule and
 * as_of, all stored with it) and of the template: a delivery written again
 * after a crash, or a re-export, lands on the same name. */
#ifndef CRR_FILESINK_H
#define CRR_FILESINK_H

#include "sink.h"

#include <stddef.h>

/* The placeholders of a file_name template, for the config keys' help. */
#define CRR_FILESINK_PLACEHOLDERS "{schedule}, {as_of} (e.g. 20261205T020000Z) and {id}"

/* What a file sink's open() passes on from its config. */
typedef struct crr_filesink_opts {
    const char *dir;       /* output folder; NULL or "" = the host's snapshot folder */
    const char *file_name; /* template; NULL or "" = {schedule}-{as_of}-{id}.<ext> */
    int latest;            /* also replace <dir>/<schedule>-latest.<ext> on each write */
    const char *section;   /* "sink.csv": names the keys in errors */
    const char *ext;       /* extension without the dot (borrowed string literal) */
} crr_filesink_opts_t;

/* Opens a file-sink instance writing <dir>/<file name>. The template may hold
 * CRR_FILESINK_PLACEHOLDERS and characters of [A-Za-z0-9._-]; it must hold
 * {id} (so that two snapshots never share a name), must not start with '.'
 * nor end with ".tmp" (the temporary files); anything else is CRR_ECONFIG.
 * Creates the folder if missing. Returns 0 and *state, CRR_ECONFIG, -errno or
 * -ENOMEM, with d explaining. */
int crr_filesink_open(const crr_sink_section_t *section, const crr_filesink_opts_t *opts,
                      void **state, crr_diag_t *d);

/* The file name (no folder) of snapshot s under the instance's template into
 * buf: {schedule} is s->schedule ("on-demand" when empty), {as_of} its as_of
 * as YYYYMMDDTHHMMSSZ in UTC (19700101T000000Z when absent), {id} its id.
 * Returns 0, or CRR_ENOTFOUND when a part is not a safe file name
 * (crr_sink_id_is_safe) or the name does not fit. Pure; any thread. */
int crr_filesink_name(void *state, const Crrmon__V1__Snapshot *s, char *buf, size_t len);

/* Writes buf[0..len) as the file of snapshot s, atomically, then (when the
 * instance keeps one, and the schedule is a safe name other than
 * "on-demand") the schedule's latest copy.
 * Returns CRR_SINK_OK, CRR_SINK_FATAL (the name is not a safe file name) or
 * CRR_SINK_RETRY (I/O error), with d explaining. */
int crr_filesink_commit(void *state, const Crrmon__V1__Snapshot *s, const char *buf, size_t len,
                        crr_diag_t *d);

/* sink ops: the file snapshot s is (or would be) written to; 0 or CRR_ENOTFOUND. */
int crr_filesink_locate(void *state, const Crrmon__V1__Snapshot *s, char *buf, size_t len);

/* The JSON Lines text of snapshot s (jsonl.c's layout: a header line, then
 * one line per value) into a malloc'd *out of *outlen bytes; shared with the
 * webhook's `body = jsonl`. Returns 0 or -ENOMEM / -EIO. */
int crr_sink_jsonl_render(const Crrmon__V1__Snapshot *s, char **out, size_t *outlen);

/* sink ops: frees the instance and nulls *state. */
void crr_filesink_close(void **state);

#endif
