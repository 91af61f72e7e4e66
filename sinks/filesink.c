/* filesink: the shared half of file-per-snapshot sinks (see filesink.h).
 * State is the absolute output folder, the file-name template and the
 * extension; no I/O happens outside open (mkdir, realpath) and commit (one
 * atomic file write, then the latest copy). */
#include "filesink.h"

#include "datadir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_TEMPLATE_MAX 128

typedef struct {
    char dir[PATH_MAX];         /* absolute output folder */
    char templ[S_TEMPLATE_MAX]; /* the file-name template */
    const char *ext;            /* file extension without the dot (borrowed literal) */
    int latest;                 /* also keep <schedule>-latest.<ext> */
} s_state_t;

static const char *const s_fields[] = {"{schedule}", "{as_of}", "{id}"};

/* The placeholder at p (index into s_fields), or -1. */
static int s_field_at(const char *p)
{
    for (int i = 0; i < 3; i++)
        if (strncmp(p, s_fields[i], strlen(s_fields[i])) == 0)
            return i;
    return -1;
}

/* Checks template t (see crr_filesink_open). Returns 0 or CRR_ECONFIG with d. */
static int s_check_template(const char *t, const char *key, crr_diag_t *d)
{
    size_t n = strlen(t);
    int has_id = 0;
    if (n >= S_TEMPLATE_MAX) {
        crr_diag_set(d, 0, key, "longer than %d characters", S_TEMPLATE_MAX - 1);
        return CRR_ECONFIG;
    }
    for (const char *p = t; *p;) {
        int f = s_field_at(p);
        if (f >= 0) {
            has_id |= f == 2;
            p += strlen(s_fields[f]);
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            crr_diag_set(d, 0, key,
                         "'%s': '%c' is neither [A-Za-z0-9._-] nor part of a placeholder "
                         "(" CRR_FILESINK_PLACEHOLDERS ")",
                         t, c);
            return CRR_ECONFIG;
        }
        p++;
    }
    if (!has_id || t[0] == '.' || (n >= 4 && strcmp(t + n - 4, ".tmp") == 0)) {
        crr_diag_set(d, 0, key,
                     "'%s' must hold {id} (two snapshots never share a name), and neither "
                     "start with '.' nor end with .tmp",
                     t);
        return CRR_ECONFIG;
    }
    return 0;
}

int crr_filesink_open(const crr_sink_section_t *section, const crr_filesink_opts_t *o, void **state,
                      crr_diag_t *d)
{
    char key[96];
    const char *dir = o->dir && *o->dir ? o->dir : section->snapshot_dir;
    snprintf(key, sizeof key, "%s.dir", o->section);
    if (!dir || !*dir) {
        crr_diag_set(d, 0, key, "no output folder configured");
        return CRR_ECONFIG;
    }
    s_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    if (o->file_name && *o->file_name)
        snprintf(st->templ, sizeof st->templ, "%.*s", S_TEMPLATE_MAX - 1, o->file_name);
    else
        snprintf(st->templ, sizeof st->templ, "{schedule}-{as_of}-{id}.%s", o->ext);
    char fkey[96];
    snprintf(fkey, sizeof fkey, "%s.file_name", o->section);
    int rc = s_check_template(o->file_name && *o->file_name ? o->file_name : st->templ, fkey, d);
    if (rc == 0 && (rc = crr_datadir_mkdirs(dir)) != 0)
        crr_diag_set(d, 0, key, "cannot create %s: %s", dir, strerror(-rc));
    if (rc == 0 && !realpath(dir, st->dir)) {
        rc = -errno;
        crr_diag_set(d, 0, key, "cannot resolve %s: %s", dir, strerror(errno));
    }
    if (rc) {
        free(st);
        return rc;
    }
    st->ext = o->ext;
    st->latest = o->latest;
    *state = st;
    return 0;
}

int crr_filesink_name(void *state, const Crrmon__V1__Snapshot *s, char *buf, size_t len)
{
    const s_state_t *st = state;
    const char *schedule = s->schedule && *s->schedule ? s->schedule : "on-demand";
    char as_of[32];
    time_t t = s->as_of ? (time_t)s->as_of->seconds : 0;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(as_of, sizeof as_of, "%Y%m%dT%H%M%SZ", &tm) == 0)
        return CRR_ENOTFOUND;
    if (!crr_sink_id_is_safe(s->id) || !crr_sink_id_is_safe(schedule))
        return CRR_ENOTFOUND;
    const char *val[3] = {schedule, as_of, s->id};
    size_t used = 0;
    for (const char *p = st->templ; *p;) {
        int f = s_field_at(p);
        const char *piece = f >= 0 ? val[f] : p;
        size_t n = f >= 0 ? strlen(piece) : 1;
        if (used + n >= len)
            return CRR_ENOTFOUND;
        memcpy(buf + used, piece, n);
        used += n;
        p += f >= 0 ? strlen(s_fields[f]) : 1;
    }
    buf[used] = '\0';
    return used > 0 && used <= 255 ? 0 : CRR_ENOTFOUND; /* NAME_MAX */
}

int crr_filesink_commit(void *state, const Crrmon__V1__Snapshot *s, const char *buf, size_t len,
                        crr_diag_t *d)
{
    const s_state_t *st = state;
    char path[PATH_MAX + 300];
    if (crr_filesink_locate(state, s, path, sizeof path) != 0) {
        crr_diag_set(d, 0, "id", "snapshot id '%.64s' (schedule '%.64s') makes no safe file name",
                     s->id ? s->id : "", s->schedule ? s->schedule : "");
        return CRR_SINK_FATAL;
    }
    int rc = crr_datadir_write_file(path, buf, len, 0644);
    if (rc == 0 && st->latest && crr_sink_id_is_safe(s->schedule) &&
        strcmp(s->schedule, "on-demand") != 0) { /* a schedule's; on-demand ones have none */
        snprintf(path, sizeof path, "%s/%s-latest.%s", st->dir, s->schedule, st->ext);
        rc = crr_datadir_write_file(path, buf, len, 0644);
    }
    if (rc) {
        crr_diag_set(d, 0, "", "cannot write %s: %s", path, strerror(-rc));
        return CRR_SINK_RETRY;
    }
    return CRR_SINK_OK;
}

int crr_filesink_locate(void *state, const Crrmon__V1__Snapshot *s, char *buf, size_t len)
{
    const s_state_t *st = state;
    char name[300];
    if (crr_filesink_name(state, s, name, sizeof name) != 0)
        return CRR_ENOTFOUND;
    int n = snprintf(buf, len, "%s/%s", st->dir, name);
    return n > 0 && (size_t)n < len ? 0 : CRR_ENOTFOUND;
}

void crr_filesink_close(void **state)
{
    free(*state);
    *state = NULL;
}
