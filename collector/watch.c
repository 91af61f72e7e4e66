/* watch: the drop folder's candidates (see watch.h).
 *
 * A small array of entries, one per candidate name in DIR, each with the
 * size, mtime and ctime last seen, when that last changed, whether a writer
 * still has it open (an IN_CREATE or IN_MODIFY with no IN_CLOSE_WRITE after
 * it), and a state: settling (not yet complete), ready (complete, not handed
 * out), taken (the caller's) or failed (left in place until it changes).
 * inotify events (IN_MOVED_TO, IN_CLOSE_WRITE, IN_MODIFY, IN_CREATE,
 * IN_ATTRIB, removals) update entries at once; the rescan (readdir + stat)
 * catches the rest. What the rescan alone finds (files there at the start,
 * after a queue overflow, without inotify) has no open/close history: it
 * settles on time alone (watch.h).
 * Invariant: an entry is taken only between crr_watch_next and
 * crr_watch_done/failed; a taken entry is never dropped by a rescan. */
#include "watch.h"

#include "datadir.h"
#include "err.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest interval between two rescans. */
#define S_RESCAN_MAX_MS 1000

typedef enum { S_SETTLING, S_READY, S_TAKEN, S_FAILED } s_state_t;

typedef struct {
    char *name;          /* file name inside DIR */
    s_state_t state;     /* see above */
    int64_t size;        /* st_size last seen */
    int64_t mtime_ns;    /* st_mtim last seen */
    int64_t ctime_ns;    /* st_ctim last seen */
    uint64_t changed_ms; /* monotonic ms when size/mtime last changed, or of the last close */
    int writing;         /* written since its last IN_CLOSE_WRITE: never settles */
    uint64_t order;      /* first-seen order: oldest handed out first */
} s_entry_t;

struct crr_watch {
    char *dir;           /* DIR as given */
    int64_t settle_ms;   /* quiet time that makes a file complete */
    int ifd;             /* inotify fd, or -1 */
    s_entry_t *e;        /* entries */
    size_t n, cap;       /* used, allocated */
    uint64_t next_scan;  /* monotonic ms of the next rescan */
    uint64_t next_order; /* order of the next new entry */
    int scan_err_logged; /* a failing rescan was logged */
};

/* Whether name is a drop-folder candidate by its name alone. */
static int s_wanted(const char *name)
{
    static const char *const ext[] = {".jsonl", ".jsonl.gz", ".csv"};
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcmp(name + n - k, ext[i]) == 0)
            return 1;
    }
    return 0;
}

static int64_t s_ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static s_entry_t *s_find(crr_watch_t *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return &w->e[i];
    return NULL;
}

static void s_drop(crr_watch_t *w, s_entry_t *x)
{
    free(x->name);
    *x = w->e[--w->n];
}

/* The name part of DIR/NAME when path is in DIR, else NULL. */
static const char *s_name_of(const crr_watch_t *w, const char *path)
{
    size_t dl = strlen(w->dir);
    if (strncmp(path, w->dir, dl) != 0 || path[dl] != '/' || strchr(path + dl + 1, '/'))
        return NULL;
    return path + dl + 1;
}

/* Whether entry x is complete: settling, closed by its writer (or with no
 * open/close history) and unchanged for settle_ms. */
static int s_settled(const crr_watch_t *w, const s_entry_t *x, uint64_t now)
{
    return x->state == S_SETTLING && !x->writing && now - x->changed_ms >= (uint64_t)w->settle_ms;
}

/* Looks at DIR/name now, after the inotify event mask (0 for a rescan): adds
 * or updates its entry (renamed in: complete at once; written: open until
 * its IN_CLOSE_WRITE, which starts the settle time anew), drops it when gone
 * or not a regular file. */
static void s_look(crr_watch_t *w, const char *name, uint64_t now, uint32_t mask)
{
    char path[PATH_MAX];
    struct stat st;
    s_entry_t *x = s_find(w, name);
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    int there = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (!there) {
        if (x && x->state != S_TAKEN)
            s_drop(w, x);
        return;
    }
    if (!x) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 16;
            s_entry_t *e = realloc(w->e, cap * sizeof *e);
            if (!e)
                return; /* seen again by the next rescan */
            w->e = e;
            w->cap = cap;
        }
        char *dup = strdup(name);
        if (!dup)
            return;
        x = &w->e[w->n++];
        *x = (s_entry_t){.name = dup,
                         .state = S_SETTLING,
                         .size = st.st_size,
                         .mtime_ns = s_ns(st.st_mtim),
                         .ctime_ns = s_ns(st.st_ctim),
                         .changed_ms = now,
                         .order = w->next_order++};
    } else if (x->state == S_TAKEN) {
        return;
    } else if (x->size != st.st_size || x->mtime_ns != s_ns(st.st_mtim) ||
               x->ctime_ns != s_ns(st.st_ctim)) {
        x->size = st.st_size;
        x->mtime_ns = s_ns(st.st_mtim);
        x->ctime_ns = s_ns(st.st_ctim);
        x->changed_ms = now;
        x->state = S_SETTLING; /* a failed file that changed is tried again */
    }
    if (mask & (IN_CREATE | IN_MODIFY))
        x->writing = 1;
    if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        x->writing = 0;
        x->changed_ms = now; /* unchanged for settle_ms from its close on */
    }
    if ((mask & IN_MOVED_TO) && x->state == S_SETTLING)
        x->state = S_READY;
    if (s_settled(w, x, now))
        x->state = S_READY;
}

/* Rescans DIR: every candidate looked at, entries of vanished files dropped. */
static int s_scan(crr_watch_t *w, uint64_t now)
{
    DIR *d = opendir(w->dir);
    if (!d) {
        int rc = -errno;
        if (!w->scan_err_logged)
            CRR_ERROR("drop folder %s cannot be read: %s (retried)", w->dir, crr_strerror(rc));
        w->scan_err_logged = 1;
        return rc;
    }
    w->scan_err_logged = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (s_wanted(de->d_name))
            s_look(w, de->d_name, now, 0);
    closedir(d);
    for (size_t i = 0; i < w->n;) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", w->dir, w->e[i].name);
        if (w->e[i].state != S_TAKEN && stat(path, &st) != 0)
            s_drop(w, &w->e[i]);
        else
            i++;
    }
    return 0;
}

static uint64_t s_rescan_ms(const crr_watch_t *w)
{
    return w->settle_ms < S_RESCAN_MAX_MS ? (uint64_t)(w->settle_ms > 10 ? w->settle_ms : 10)
                                          : S_RESCAN_MAX_MS;
}

int crr_watch_open(const char *dir, int64_t settle_ms, crr_watch_t **out)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        int rc = errno && stat(dir, &st) != 0 ? -errno : -ENOTDIR;
        CRR_ERROR("drop folder %s: %s", dir, crr_strerror(rc));
        return rc;
    }
    crr_watch_t *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return -ENOMEM;
    }
    size_t dl = strlen(w->dir);
    while (dl > 1 && w->dir[dl - 1] == '/')
        w->dir[--dl] = '\0';
    w->settle_ms = settle_ms;
    w->ifd = -1;
    static const char *const sub[] = {"done", "rejected"};
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", w->dir, sub[i]);
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int rc = -errno;
            CRR_ERROR("drop folder: cannot create %s: %s", p, crr_strerror(rc));
            crr_watch_close(&w);
            return rc;
        }
    }
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0 ||
        inotify_add_watch(w->ifd, w->dir,
                          IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_ATTRIB |
                              IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR) < 0) {
        CRR_WARN("drop folder %s: no inotify (%s): rescanning every %llums instead", w->dir,
                 crr_strerror(-errno), (unsigned long long)s_rescan_ms(w));
        if (w->ifd >= 0)
            close(w->ifd);
        w->ifd = -1;
    }
    *out = w;
    return 0;
}

void crr_watch_close(crr_watch_t **wp)
{
    if (!wp || !*wp)
        return;
    crr_watch_t *w = *wp;
    if (w->ifd >= 0)
        close(w->ifd);
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].name);
    free(w->e);
    free(w->dir);
    free(w);
    *wp = NULL;
}

int crr_watch_fd(const crr_watch_t *w)
{
    return w->ifd;
}

long crr_watch_timeout(const crr_watch_t *w, uint64_t now_ms)
{
    uint64_t due = w->next_scan;
    for (size_t i = 0; i < w->n; i++) {
        if (w->e[i].state == S_READY)
            return 0;
        if (w->e[i].state == S_SETTLING && !w->e[i].writing &&
            w->e[i].changed_ms + (uint64_t)w->settle_ms < due)
            due = w->e[i].changed_ms + (uint64_t)w->settle_ms;
    }
    return due <= now_ms ? 0 : (long)(due - now_ms);
}

/* Reads the inotify events queued. An overflow asks for a rescan now and
 * forgets which files were open: their IN_CLOSE_WRITE may have been lost, so
 * they settle on time alone (or are marked open again by their next write). */
static void s_events(crr_watch_t *w, uint64_t now)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW) {
                w->next_scan = now;
                for (size_t i = 0; i < w->n; i++)
                    w->e[i].writing = 0;
            } else if (ev->len && s_wanted(ev->name)) {
                s_look(w, ev->name, now, ev->mask);
            }
            p += sizeof *ev + ev->len;
        }
    }
}

int crr_watch_poll(crr_watch_t *w, uint64_t now_ms)
{
    if (w->ifd >= 0)
        s_events(w, now_ms);
    int rc = 0;
    if (now_ms >= w->next_scan) {
        rc = s_scan(w, now_ms);
        w->next_scan = now_ms + s_rescan_ms(w);
    }
    for (size_t i = 0; i < w->n; i++)
        if (s_settled(w, &w->e[i], now_ms))
            s_look(w, w->e[i].name, now_ms, 0); /* unchanged since? then complete */
    return rc;
}

int crr_watch_next(crr_watch_t *w, uint64_t now_ms, char *path, size_t cap)
{
    (void)now_ms;
    s_entry_t *best = NULL;
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].state == S_READY && (!best || w->e[i].order < best->order))
            best = &w->e[i];
    if (!best)
        return 0;
    best->state = S_TAKEN;
    snprintf(path, cap, "%s/%s", w->dir, best->name);
    return 1;
}

int crr_watch_owns(const crr_watch_t *w, const char *path)
{
    const char *name = s_name_of(w, path);
    if (!name)
        return 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].state == S_TAKEN && strcmp(w->e[i].name, name) == 0)
            return 1;
    return 0;
}

void crr_watch_failed(crr_watch_t *w, const char *path)
{
    const char *name = s_name_of(w, path);
    s_entry_t *x = name ? s_find(w, name) : NULL;
    if (x)
        x->state = S_FAILED; /* size/mtime/ctime kept: a change makes it settle again */
}

int crr_watch_report_path(const crr_watch_t *w, const char *path, char *buf, size_t cap)
{
    const char *name = s_name_of(w, path);
    if (!name)
        return -EINVAL;
    snprintf(buf, cap, "%s/rejected/%s.errors.csv", w->dir, name);
    return 0;
}

int crr_watch_done(crr_watch_t *w, const char *path, char *moved, size_t cap)
{
    const char *name = s_name_of(w, path);
    if (!name)
        return -EINVAL;
    char dst[PATH_MAX];
    int rc;
    struct stat st;
    snprintf(dst, sizeof dst, "%s/done/%s", w->dir, name);
    for (int i = 1; lstat(dst, &st) == 0; i++)
        snprintf(dst, sizeof dst, "%s/done/%s.%d", w->dir, name, i);
    if (rename(path, dst) != 0) {
        rc = -errno;
        if (rc == -ENOENT && lstat(path, &st) != 0) {
            /* removed by someone else while it was read: nothing left to move */
            CRR_WARN("drop folder: %s was removed before it could be moved to done/", path);
            if (moved)
                snprintf(moved, cap, "(removed)");
            s_entry_t *gone = s_find(w, name);
            if (gone)
                s_drop(w, gone);
            return 0;
        }
        CRR_ERROR("drop folder: cannot move %s to %s: %s (retried)", path, dst, crr_strerror(rc));
        return rc;
    }
    if ((rc = crr_datadir_sync_parent(dst)) || (rc = crr_datadir_sync_parent(path)))
        CRR_WARN("drop folder: fsync of the folders after moving %s: %s", path, crr_strerror(rc));
    if (moved)
        snprintf(moved, cap, "%s", dst);
    s_entry_t *x = s_find(w, name);
    if (x)
        s_drop(w, x);
    return 0;
}
