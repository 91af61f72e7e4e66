/* dropfolder: the drop folder's files between "handed out" and "done"
 * (see dropfolder.h). A list of files: the one being read and those read and
 * waiting for their Acks, each with its report rows; and, at start, the
 * sweep of checkpoints a crash left behind (crr_drop_sweep). */
#include "dropfolder.h"

#include "crashpoint.h"
#include "errreport.h"
#include "log.h"
#include "watch.h"
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char path[PATH_MAX]; /* DIR/NAME */
    char key[PATH_MAX];  /* its checkpoint key, "" = none */
    int read;            /* read to its end: waits for last_seq's Ack */
    uint64_t last_seq;   /* ... */
    uint64_t from_id;    /* its first possible reject id */
} s_file_t;

struct crr_drop {
    crr_watch_t *w; /* the folder */
    char *real;     /* DIR's real path: the prefix of its files' checkpoint keys */
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
    if (rc == 0 && !(d->real = realpath(dir, NULL))) {
        rc = -errno;
        CRR_ERROR("drop folder %s: %s", dir, crr_strerror(rc));
        crr_watch_close(&d->w);
    }
    if (rc) {
        free(d);
        return rc;
    }
    CRR_INFO("watching drop folder %s (complete files: renamed in, or closed and unchanged for "
             "%lldms)",
             dir, (long long)settle_ms);
    *out = d;
    return 0;
}

void crr_drop_close(crr_drop_t **dp)
{
    if (!dp || !*dp)
        return;
    crr_drop_t *d = *dp;
    free(d->f);
    free(d->real);
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
    *f = d->f[--d->n];
}

/* The spool mark of checkpoint key key. */
static void s_mark(char *buf, size_t cap, const char *key)
{
    snprintf(buf, cap, "drop:%s", key);
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
    if (!crr_watch_next(d->w, now_ms, path, cap))
        return 0;
    s_file_t *f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    return 1;
}

int crr_drop_owns(const crr_drop_t *d, const char *path)
{
    return s_find(d, path) != NULL;
}

int crr_drop_started(crr_drop_t *d, const char *path, const char *key, int resumed,
                     crr_spool_t *spool)
{
    s_file_t *f = s_find(d, path);
    if (!f)
        return 0;
    char mark[PATH_MAX + 8];
    s_mark(mark, sizeof mark, key);
    if (resumed && crr_spool_mark_get(spool, mark, &f->from_id) == 0)
        return 0;
    int rc = crr_spool_rejects_next_id(spool, &f->from_id);
    if (rc == 0)
        rc = crr_spool_begin(spool);
    if (rc == 0)
        rc = crr_spool_mark_set(spool, mark, f->from_id);
    if (rc == 0)
        rc = crr_spool_commit(spool);
    if (rc)
        crr_spool_abort(spool);
    else
        crr_crashpoint("drop_after_mark"); /* a mark with no checkpoint yet: crr_drop_sweep */
    return rc;
}

/* crr_spool_rejects_foreach's callback: a row for each reject of the file
 * (r NULL: only counted). */
typedef struct {
    const char *path;
    crr_errreport_t *r;
    uint64_t n;
} s_collect_t;

/* The reject code of its short name (common/err.h), 0 when unknown. */
static int s_code(const char *name)
{
    for (int i = 1; name && i < 64; i++)
        if (strcmp(crr_reject_code_name(i), name) == 0)
            return i;
    return 0;
}

/* The camelCase form of a snake_case name (proto3 JSON accepts both). */
static void s_camel(const char *snake, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = snake; *p && o + 1 < cap; p++) {
        if (*p == '_' && p[1]) {
            p++;
            out[o++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* The value at field (a proto path, e.g. stop_search.outcome) in the raw
 * JSON line, as JSON text (strings without quotes), or NULL when the line
 * does not parse or has no such member. Free with free(). */
static char *s_value_at(const char *raw, const char *field)
{
    if (!raw || !field || !*field)
        return NULL;
    json_t *root = json_loads(raw, JSON_DECODE_ANY, NULL), *at = root;
    char seg[128], camel[128];
    for (const char *p = field; at && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(seg, sizeof seg, "%.*s", (int)n, p);
        s_camel(seg, camel, sizeof camel);
        json_t *next = json_is_object(at) ? json_object_get(at, seg) : NULL;
        at = next ? next : json_is_object(at) ? json_object_get(at, camel) : NULL;
        p += n + (p[n] == '.');
    }
    char *out = NULL;
    if (at && at != root)
        out = json_is_string(at) ? strdup(json_string_value(at))
                                 : crr_json_dump_checked(at, JSON_ENCODE_ANY);
    json_decref(root);
    return out;
}

static int s_collect(const char *json, size_t len, void *ud)
{
    s_collect_t *c = ud;
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!o)
        return 0; /* not ours to judge: `crrmon rejects` shows it */
    const char *file = json_string_value(json_object_get(o, "file"));
    int rc = 0;
    if (file && strcmp(file, c->path) == 0 && c->r) {
        crr_diag_t d;
        crr_diag_clear(&d);
        const char *field = json_string_value(json_object_get(o, "field"));
        const char *reason = json_string_value(json_object_get(o, "reason"));
        snprintf(d.file, sizeof d.file, "%s", file);
        d.line = (long)json_integer_value(json_object_get(o, "line"));
        snprintf(d.field, sizeof d.field, "%s", field ? field : "");
        snprintf(d.reason, sizeof d.reason, "%s", reason ? reason : "");
        d.code = s_code(json_string_value(json_object_get(o, "code")));
        const char *raw = json_string_value(json_object_get(o, "raw"));
        size_t fl = strlen(file);
        char *value = fl > 4 && strcmp(file + fl - 4, ".csv") == 0
                          ? (raw && *raw ? strdup(raw) : NULL) /* a CSV cell: stored as is */
                          : s_value_at(raw, field);
        rc = crr_errreport_add(c->r, &d, value);
        free(value);
    }
    if (file && strcmp(file, c->path) == 0)
        c->n++;
    json_decref(o);
    return rc;
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

/* Writes DIR/rejected/NAME.errors.csv from the spool's rejects of file f
 * when it has any (*rows: how many). Returns 0 or an error (logged). */
static int s_report(crr_drop_t *d, s_file_t *f, crr_spool_t *spool, uint64_t *rows)
{
    s_collect_t col = {f->path, NULL, 0};
    int rc = crr_spool_rejects_foreach(spool, f->from_id, s_collect, &col);
    *rows = col.n;
    if (rc || col.n == 0)
        return rc;
    char path[PATH_MAX] = "";
    if ((rc = crr_watch_report_path(d->w, f->path, path, sizeof path)) ||
        (rc = crr_errreport_open(path, &col.r)))
        goto out;
    rc = crr_spool_rejects_foreach(spool, f->from_id, s_collect, &col);
    int crc = crr_errreport_close(&col.r);
    if (rc == 0)
        rc = crc;
out:
    if (rc)
        CRR_ERROR("drop folder: cannot write %s: %s (retried)", path, crr_strerror(rc));
    return rc;
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
        uint64_t rows = 0;
        int rc = s_report(d, f, spool, &rows);
        crr_crashpoint("drop_before_move");
        if (rc == 0)
            rc = crr_watch_done(d->w, f->path, moved, sizeof moved);
        if (rc) {
            CRR_DEBUG("drop folder: %s not finished yet: %s", f->path, crr_strerror(rc));
            i++; /* tried again on the next call */
            continue;
        }
        CRR_INFO("drop folder: %s done: moved to %s; %llu problem(s) reported", f->path, moved,
                 (unsigned long long)rows);
        crr_crashpoint("drop_after_move"); /* the checkpoint left behind: crr_drop_sweep */
        if (f->key[0]) {
            char mark[PATH_MAX + 8];
            s_mark(mark, sizeof mark, f->key);
            rc = crr_spool_begin(spool);
            if (rc == 0)
                rc = crr_spool_checkpoint_del(spool, f->key);
            if (rc == 0)
                rc = crr_spool_mark_del(spool, mark);
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

/* A list of spool keys to delete. */
typedef struct {
    char **k;
    size_t n, cap;
} s_keys_t;

static int s_keys_add(s_keys_t *l, const char *key)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **k = realloc(l->k, cap * sizeof *k);
        if (!k)
            return -ENOMEM;
        l->k = k;
        l->cap = cap;
    }
    if (!(l->k[l->n] = strdup(key)))
        return -ENOMEM;
    l->n++;
    return 0;
}

/* Drops l->k[i] (the last takes its place). */
static void s_keys_drop(s_keys_t *l, size_t i)
{
    free(l->k[i]);
    l->k[i] = l->k[--l->n];
}

static void s_keys_free(s_keys_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->k[i]);
    free(l->k);
}

/* crr_drop_sweep's walks over the checkpoints and the marks under DIR. */
typedef struct {
    const crr_drop_t *d;
    int drained;    /* the spool holds no unacknowledged event */
    s_keys_t ckpts; /* checkpoints (with their marks) to delete */
    s_keys_t marks; /* keys whose mark has no checkpoint and whose file left DIR */
} s_sweep_t;

/* Whether key (a checkpoint key) names a file of DIR itself that is no
 * longer there. */
static int s_gone(const crr_drop_t *d, const char *key)
{
    size_t rl = strlen(d->real);
    const char *name = key + rl + 1;
    char p[PATH_MAX];
    struct stat st;
    if (strncmp(key, d->real, rl) != 0 || key[rl] != '/' || !*name || strchr(name, '/'))
        return 0;
    snprintf(p, sizeof p, "%s/%s", d->real, name);
    return lstat(p, &st) != 0 && errno == ENOENT;
}

/* Whether DIR/done holds the file of checkpoint cp (same device and inode)
 * under name or one of the names crr_watch_done gives when it is taken
 * (name.1, name.2, ...): moved there by us, which is only done once every
 * event of it was acknowledged. */
static int s_in_done(const crr_drop_t *d, const char *name, const crr_spool_ckpt_t *cp)
{
    char p[PATH_MAX];
    struct stat st;
    if (!cp->has_identity)
        return 0;
    snprintf(p, sizeof p, "%s/done/%s", d->real, name);
    for (int i = 1; lstat(p, &st) == 0; i++) {
        if ((uint64_t)st.st_dev == cp->dev && (uint64_t)st.st_ino == cp->ino)
            return 1;
        snprintf(p, sizeof p, "%s/done/%s.%d", d->real, name, i);
    }
    return 0;
}

static int s_sweep_one(void *ud, const char *key, const crr_spool_ckpt_t *cp)
{
    s_sweep_t *sw = ud;
    if (!s_gone(sw->d, key))
        return 0; /* not a file of DIR itself, or still there: a live checkpoint */
    if (!sw->drained && !s_in_done(sw->d, key + strlen(sw->d->real) + 1, cp)) {
        CRR_INFO("drop folder: checkpoint of %s kept: its file is gone and not in done/, and "
                 "events are still unacknowledged (looked at again at the next start)",
                 key);
        return 0;
    }
    return s_keys_add(&sw->ckpts, key);
}

static int s_sweep_mark(void *ud, const char *name, uint64_t value)
{
    s_sweep_t *sw = ud;
    (void)value;
    const char *key = name + strlen("drop:");
    return s_gone(sw->d, key) ? s_keys_add(&sw->marks, key) : 0;
}

/* Keeps in sw->ckpts the keys with a mark (the others are named inputs'
 * checkpoints, not the folder's) and in sw->marks those without a
 * checkpoint. Returns 0 or a spool error. */
static int s_sweep_filter(s_sweep_t *sw, crr_spool_t *spool)
{
    char mark[PATH_MAX + 8];
    uint64_t v;
    crr_spool_ckpt_t cp;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sw->ckpts.n;) {
        s_mark(mark, sizeof mark, sw->ckpts.k[i]);
        if ((rc = crr_spool_mark_get(spool, mark, &v)) == CRR_ENOTFOUND) {
            s_keys_drop(&sw->ckpts, i);
            rc = 0;
        } else {
            i++;
        }
    }
    for (size_t i = 0; rc == 0 && i < sw->marks.n;) {
        if ((rc = crr_spool_checkpoint_get(spool, sw->marks.k[i], &cp)) == 0) {
            s_keys_drop(&sw->marks, i); /* the checkpoint walk decided it */
        } else if (rc == CRR_ENOTFOUND) {
            rc = 0;
            i++;
        }
    }
    return rc;
}

/* Deletes sw's checkpoints with their marks, and its lone marks, in one
 * spool txn, and logs each. Returns 0 or a spool error. */
static int s_sweep_delete(s_sweep_t *sw, crr_spool_t *spool)
{
    if (sw->ckpts.n + sw->marks.n == 0)
        return 0;
    char mark[PATH_MAX + 8];
    int rc = crr_spool_begin(spool);
    for (size_t i = 0; rc == 0 && i < sw->ckpts.n; i++) {
        s_mark(mark, sizeof mark, sw->ckpts.k[i]);
        if ((rc = crr_spool_checkpoint_del(spool, sw->ckpts.k[i])) == 0)
            rc = crr_spool_mark_del(spool, mark);
    }
    for (size_t i = 0; rc == 0 && i < sw->marks.n; i++) {
        s_mark(mark, sizeof mark, sw->marks.k[i]);
        rc = crr_spool_mark_del(spool, mark);
    }
    if (rc == 0)
        rc = crr_spool_commit(spool);
    if (rc) {
        crr_spool_abort(spool);
        return rc;
    }
    for (size_t i = 0; i < sw->ckpts.n; i++)
        CRR_INFO("drop folder: deleted the leftover checkpoint of %s (its file left DIR and "
                 "its events are acknowledged)",
                 sw->ckpts.k[i]);
    for (size_t i = 0; i < sw->marks.n; i++)
        CRR_INFO("drop folder: deleted the leftover mark of %s (its file left DIR before any "
                 "of it was spooled)",
                 sw->marks.k[i]);
    return 0;
}

/* Besides the checkpoints (dropfolder.h), the marks "drop:KEY" that have no
 * checkpoint and whose file left DIR: a crash after crr_drop_started
 * committed the mark and before the file's first group committed its
 * checkpoint. Deleting them is safe: every group of a file commits its
 * events and rejects together with its checkpoint, so a mark without one
 * means nothing of that file ever reached the spool (crr_drop_finish and
 * this sweep delete a checkpoint and its mark together): nothing to send,
 * nothing to report. The mark only noted where the file's report would
 * begin, and a file dropped again under the name is read from its start,
 * which notes its mark anew. A mark whose file is still in DIR is left: it
 * is that file's, set anew when the file is handed out. */
int crr_drop_sweep(crr_drop_t *d, crr_spool_t *spool)
{
    char prefix[PATH_MAX + 8];
    snprintf(prefix, sizeof prefix, "%s/", d->real);
    s_sweep_t sw = {.d = d, .drained = crr_spool_acked_seq(spool) + 1 >= crr_spool_next_seq(spool)};
    int rc = crr_spool_checkpoint_foreach(spool, prefix, s_sweep_one, &sw);
    if (rc == 0) {
        s_mark(prefix, sizeof prefix, d->real);
        snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), "/");
        rc = crr_spool_mark_foreach(spool, prefix, s_sweep_mark, &sw);
    }
    if (rc == 0)
        rc = s_sweep_filter(&sw, spool);
    if (rc == 0)
        rc = s_sweep_delete(&sw, spool);
    s_keys_free(&sw.ckpts);
    s_keys_free(&sw.marks);
    return rc;
}
