/* dropfolder: the drop folder's files between "handed out" and "done"
 * (see dropfolder.h). A list of files: the one being read and those read and
 * waiting for their Acks, each with its report rows. */
#include "dropfolder.h"

#include "crashpoint.h"
#include "errreport.h"
#include "log.h"
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char path[PATH_MAX];   /* DIR/NAME */
    char key[PATH_MAX];    /* its checkpoint key, "" = none */
    int read;              /* read to its end: waits for last_seq's Ack */
    uint64_t last_seq;     /* ... */
    crr_errreport_t *rows; /* its report */
} s_file_t;

struct crr_drop {
    crr_watch_t *w; /* the folder */
    s_file_t *f;    /* files handed out */
    size_t n, cap;  /* used, allocated */
};

int crr_drop_open(const char *dir, int64_t settle_ms, crr_drop_t **out)
{
    *out = NULL;
    crr_drop_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    int rc = crr_watch_open(dir, settle_ms, &d->w);
    if (rc) {
        free(d);
        return rc;
    }
    CRR_INFO("watching drop folder %s (complete files: renamed in, or unchanged for %lldms)", dir,
             (long long)settle_ms);
    *out = d;
    return 0;
}

void crr_drop_close(crr_drop_t **dp)
{
    if (!dp || !*dp)
        return;
    crr_drop_t *d = *dp;
    for (size_t i = 0; i < d->n; i++)
        crr_errreport_free(&d->f[i].rows);
    free(d->f);
    crr_watch_close(&d->w);
    free(d);
    *dp = NULL;
}

int crr_drop_fd(const crr_drop_t *d)
{
    return crr_watch_fd(d->w);
}

long crr_drop_timeout(const crr_drop_t *d, uint64_t now_ms)
{
    return crr_watch_timeout(d->w, now_ms);
}

static s_file_t *s_find(const crr_drop_t *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->f[i].path, path) == 0)
            return &d->f[i];
    return NULL;
}

static void s_remove(crr_drop_t *d, s_file_t *f)
{
    crr_errreport_free(&f->rows);
    *f = d->f[--d->n];
}

int crr_drop_next(crr_drop_t *d, uint64_t now_ms, char *path, size_t cap)
{
    (void)crr_watch_poll(d->w, now_ms); /* a failed rescan is logged and retried */
    if (d->n == d->cap) {
        size_t cap2 = d->cap ? d->cap * 2 : 8;
        s_file_t *f = realloc(d->f, cap2 * sizeof *f);
        if (!f)
            return 0;
        d->f = f;
        d->cap = cap2;
    }
    crr_errreport_t *rows = crr_errreport_new();
    if (!rows)
        return 0;
    if (!crr_watch_next(d->w, now_ms, path, cap)) {
        crr_errreport_free(&rows);
        return 0;
    }
    s_file_t *f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->rows = rows;
    return 1;
}

int crr_drop_owns(const crr_drop_t *d, const char *path)
{
    return s_find(d, path) != NULL;
}

int crr_drop_reject(crr_drop_t *d, const crr_diag_t *diag, const char *value)
{
    s_file_t *f = s_find(d, diag->file);
    return f ? crr_errreport_add(f->rows, diag, value) : 0;
}

void crr_drop_read_end(crr_drop_t *d, const char *path, int ok, uint64_t last_seq, const char *key)
{
    s_file_t *f = s_find(d, path);
    if (!f)
        return;
    if (!ok) {
        CRR_ERROR("drop folder: %s could not be read: left in place, tried again once it "
                  "changes",
                  path);
        crr_watch_failed(d->w, path);
        s_remove(d, f);
        return;
    }
    f->read = 1;
    f->last_seq = last_seq;
    snprintf(f->key, sizeof f->key, "%s", key ? key : "");
}

int crr_drop_finish(crr_drop_t *d, uint64_t acked_seq, crr_spool_t *spool)
{
    for (size_t i = 0; i < d->n;) {
        s_file_t *f = &d->f[i];
        if (!f->read || f->last_seq > acked_seq) {
            i++;
            continue;
        }
        char moved[PATH_MAX];
        crr_crashpoint("drop_before_move");
        if (crr_watch_done(d->w, f->path, f->rows, moved, sizeof moved) != 0) {
            i++; /* logged; tried again on the next call */
            continue;
        }
        CRR_INFO("drop folder: %s done: moved to %s; %zu problem(s) reported", f->path, moved,
                 crr_errreport_rows(f->rows));
        if (f->key[0]) {
            int rc = crr_spool_begin(spool);
            if (rc == 0)
                rc = crr_spool_checkpoint_del(spool, f->key);
            if (rc == 0)
                rc = crr_spool_commit(spool);
            if (rc) {
                crr_spool_abort(spool);
                s_remove(d, f);
                return rc;
            }
        }
        s_remove(d, f);
    }
    return 0;
}

size_t crr_drop_pending(const crr_drop_t *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->f[i].read;
    return n;
}
