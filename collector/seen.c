/* seen: the list of files read by this data folder's spools (see seen.h).
 * Invariants: paths[0..n) are distinct, none holds '\n'; the file on disk
 * is a prefix-consistent copy of the list as of the last successful add.
 * Does not: decide what to do with a listed file (collector.c does). */
#include "seen.h"

#include "datadir.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct crr_seen {
    char *path;    /* DATA_DIR/files-read */
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
    size_t n = strlen(data_dir) + sizeof "/" CRR_DATADIR_FILES_READ;
    int rc = -ENOMEM;
    if ((s->path = malloc(n))) {
        crr_datadir_path(s->path, n, data_dir, CRR_DATADIR_FILES_READ);
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

/* The list as the file holds it: one path per line. Returns 0 and *buf
 * (the caller's to free) with *len, or -ENOMEM. */
static int s_format(const crr_seen_t *s, char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    if (!f)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s\n", s->paths[i]);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(*buf);
        *buf = NULL;
        return -ENOMEM;
    }
    return 0;
}

int crr_seen_add(crr_seen_t *s, const char *path)
{
    if (crr_seen_has(s, path) || strchr(path, '\n'))
        return 0;
    int rc = s_push(s, path);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    if ((rc = s_format(s, &text, &len)) == 0)
        rc = crr_datadir_write_file(s->path, text, len, 0640);
    free(text);
    if (rc)
        CRR_WARN("cannot record %s in %s: %s", path, s->path, strerror(-rc));
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
    free(s);
    *sp = NULL;
}
