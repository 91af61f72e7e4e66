/* datadir: the aggregator's data folder: an exclusive flock on DATA_DIR/lock
 * (a second aggregator on the same folder refuses to start; the kernel drops
 * the lock when the process dies, kill -9 included) and DATA_DIR/endpoints.json,
 * the endpoints actually bound, written as temp + fsync + rename so a reader
 * never sees half a file. */
#include "aggregator.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p */
static int s_mkdirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(path, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

int crr_datadir_lock(const char *dir, int *fd, long *holder)
{
    char path[4200];
    *fd = -1;
    *holder = 0;
    int rc = s_mkdirs(dir);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/lock", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return -errno;
    if (flock(f, LOCK_EX | LOCK_NB)) {
        rc = errno == EWOULDBLOCK ? CRR_ELOCKED : -errno;
        char buf[32] = {0};
        if (pread(f, buf, sizeof buf - 1, 0) > 0)
            *holder = strtol(buf, NULL, 10);
        close(f);
        return rc;
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) || pwrite(f, buf, (size_t)len, 0) != len) {
        rc = -errno;
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int crr_datadir_write_endpoints(const char *dir, const char *ingest, const char *feed,
                                const char *http, long pid)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "ingest", ingest, "feed", feed, "http", http,
                          "pid", (json_int_t)pid);
    if (!o)
        return -ENOMEM;
    char *text = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/endpoints.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = 0;
    int f = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0) {
        rc = -errno;
        goto done;
    }
    if (write(f, text, len) != (ssize_t)len || write(f, "\n", 1) != 1 || fsync(f)) {
        rc = errno ? -errno : -EIO;
        close(f);
        unlink(tmp);
        goto done;
    }
    close(f);
    if (rename(tmp, path)) {
        rc = -errno;
        unlink(tmp);
    }
done:
    free(text);
    return rc;
}
