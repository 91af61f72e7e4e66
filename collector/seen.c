/* seen: the list of files read by this data folder's spools (see seen.h).
 * Invariants: paths[0..n) are distinct, none holds '\n'; the file on disk
 * is a prefix-consistent copy of the list as of the last successful add.
 * Does not: decide what to do with a listed file (collector.c does). */
#include "seen.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct crr_seen {
    char *path;    /* DATA_DIR/files-read */
    char *dir;     /* DATA_DIR (fsync'd after the rename) */
    char **paths;  /* the listed real paths */
    size_t n, cap; /* used / allocated */
};

static int s_push(crr_seen_t *s, const char *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **np = realloc(s->paths, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        s->paths = np;
        s->cap = cap;
    }
    if (!(s->paths[s->n] = strdup(p)))
        return -ENOMEM;
    s->n++;
    return 0;
}

/* Reads the list file into s (missing = empty). */
static int s_read(crr_seen_t *s)
{
    FILE *f = fopen(s->path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        if (got > 0 && line[got - 1] == '\n')
            line[--got] = '\0';
        if (got > 0 && !crr_seen_has(s, line))
            rc = s_push(s, line);
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    free(line);
    fclose(f);
    return rc;
}

int crr_seen_load(const char *data_dir, crr_seen_t **out)
{
    *out = NULL;
    crr_seen_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    size_t n = strlen(data_dir) + sizeof "/" CRR_SEEN_FILE;
    int rc = -ENOMEM;
    if ((s->dir = strdup(data_dir)) && (s->path = malloc(n))) {
        snprintf(s->path, n, "%s/%s", data_dir, CRR_SEEN_FILE);
        rc = s_read(s);
        if (rc)
            CRR_ERROR("cannot read %s: %s", s->path, strerror(-rc));
    }
    if (rc) {
        crr_seen_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

int crr_seen_has(const crr_seen_t *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->paths[i], path) == 0)
            return 1;
    return 0;
}

/* Writes every path to tmp and syncs it. */
static int s_write_tmp(const crr_seen_t *s, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s\n", s->paths[i]);
    int rc = 0;
    if (fflush(f) != 0 || ferror(f) || fsync(fd) != 0)
        rc = errno ? -errno : -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    return rc;
}

/* fsync of the folder, so the rename itself is durable. */
static int s_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int crr_seen_add(crr_seen_t *s, const char *path)
{
    if (crr_seen_has(s, path) || strchr(path, '\n'))
        return 0;
    int rc = s_push(s, path);
    if (rc)
        return rc;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    if ((rc = s_write_tmp(s, tmp)) == 0 && rename(tmp, s->path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = s_sync_dir(s->dir);
    if (rc) {
        unlink(tmp);
        CRR_WARN("cannot record %s in %s: %s", path, s->path, strerror(-rc));
    }
    return rc;
}

void crr_seen_free(crr_seen_t **sp)
{
    if (!sp || !*sp)
        return;
    crr_seen_t *s = *sp;
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->path);
    free(s->dir);
    free(s);
    *sp = NULL;
}
