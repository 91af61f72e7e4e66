/* registry: the one table of compiled-in sinks, and small helpers every file
 * sink shares (safe ids, atomic file writes).
 *
 * To add a sink: write sinks/<name>.c exporting crr_sink_<name>, add a
 * CRR_WITH_SINK_<NAME> option in the top-level CMakeLists.txt, an entry below
 * and a line in sinks/CMakeLists.txt. Nothing else changes: the aggregator
 * reads its config map and open/write/close through this table. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const crr_sink_ops_t *const crr_sink_registry[] = {
#ifdef CRR_WITH_SINK_JSONL
    &crr_sink_jsonl,
#endif
#ifdef CRR_WITH_SINK_CSV
    &crr_sink_csv,
#endif
    NULL,
};

const crr_sink_ops_t *crr_sink_find(const char *name)
{
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

int crr_sink_id_is_safe(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128 || id[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* fsyncs the folder holding path so that a rename survives a crash. */
static int s_sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int crr_sink_write_file(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd))
        goto fail;
    if (close(fd)) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path))
        goto fail;
    return s_sync_dir(path);
fail : {
    int rc = -errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}
}
