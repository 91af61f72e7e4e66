/* filesink: the shared half of file-per-snapshot sinks (see filesink.h).
 * State is the absolute output folder and the extension; no I/O happens
 * outside open (mkdir, realpath) and commit (one atomic file write). */
#include "filesink.h"

#include "datadir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char dir[PATH_MAX]; /* absolute output folder */
    const char *ext;    /* file extension without the dot (borrowed literal) */
    int latest;         /* also keep <schedule>-latest.<ext> */
} s_state_t;

int crr_filesink_open(const crr_sink_section_t *section, const char *cfg_dir, int latest,
                      const char *key, const char *ext, void **state, crr_diag_t *d)
{
    const char *dir = cfg_dir && *cfg_dir ? cfg_dir : section->snapshot_dir;
    if (!dir || !*dir) {
        crr_diag_set(d, 0, key, "no output folder configured");
        return CRR_ECONFIG;
    }
    int rc = crr_datadir_mkdirs(dir);
    if (rc) {
        crr_diag_set(d, 0, key, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    s_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    if (!realpath(dir, st->dir)) {
        rc = -errno;
        crr_diag_set(d, 0, key, "cannot resolve %s: %s", dir, strerror(errno));
        free(st);
        return rc;
    }
    st->ext = ext;
    st->latest = latest;
    *state = st;
    return 0;
}

int crr_filesink_commit(void *state, const char *id, const char *schedule, const char *buf,
                        size_t len, crr_diag_t *d)
{
    const s_state_t *st = state;
    char path[PATH_MAX + 200];
    if (crr_filesink_locate(state, id, path, sizeof path) != 0) {
        crr_diag_set(d, 0, "id", "snapshot id '%.64s' is not a safe file name", id ? id : "");
        return CRR_SINK_FATAL;
    }
    int rc = crr_datadir_write_file(path, buf, len, 0644);
    if (rc == 0 && st->latest && crr_sink_id_is_safe(schedule) &&
        strcmp(schedule, "on-demand") != 0) { /* a schedule's; on-demand ones have none */
        snprintf(path, sizeof path, "%s/%s-latest.%s", st->dir, schedule, st->ext);
        rc = crr_datadir_write_file(path, buf, len, 0644);
    }
    if (rc) {
        crr_diag_set(d, 0, "", "cannot write %s: %s", path, strerror(-rc));
        return CRR_SINK_RETRY;
    }
    return CRR_SINK_OK;
}

int crr_filesink_locate(void *state, const char *id, char *buf, size_t len)
{
    const s_state_t *st = state;
    if (!crr_sink_id_is_safe(id))
        return CRR_ENOTFOUND;
    snprintf(buf, len, "%s/%s.%s", st->dir, id, st->ext);
    return 0;
}

void crr_filesink_close(void **state)
{
    free(*state);
    *state = NULL;
}
