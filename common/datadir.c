/* datadir: data folder layout, lock, mkdir -p and atomic file writes (see
 * datadir.h).
 * Invariants: a lock file holds the pid of the process that last took the
 * lock (truncated first, so a reader sees the new pid or nothing, never a
 * stale one after the flock); a file written here never exists half
 * written under its own name.
 * Does not: log, or know what the files hold. */
#include "datadir.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int crr_datadir_path(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir that accepts an existing folder. */
static int s_mkdir(const char *path)
{
    if (mkdir(path, CRR_DATADIR_MODE) == 0)
        return 0;
    int rc = -errno;
    struct stat st;
    if (rc == -EEXIST)
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    return rc;
}

int crr_datadir_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        int rc = s_mkdir(path);
        *p = '/';
        if (rc)
            return rc;
    }
    return s_mkdir(path);
}

/* The pid in an open lock file, 0 when there is none. */
static long s_read_pid(int fd)
{
    char buf[32] = {0};
    if (pread(fd, buf, sizeof buf - 1, 0) <= 0)
        return 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* Replaces the lock file's content with our pid. */
static int s_write_pid(int fd)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0)
        return -errno;
    ssize_t w = pwrite(fd, buf, (size_t)len, 0);
    if (w < 0)
        return -errno;
    return w == len ? 0 : -EIO;
}

int crr_datadir_lock(const char *dir, int *fd, long *holder)
{
    char path[PATH_MAX];
    *fd = -1;
    *holder = 0;
    int rc = crr_datadir_mkdirs(dir);
    if (rc || (rc = crr_datadir_path(path, sizeof path, dir, CRR_DATADIR_LOCK)))
        return rc;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return -errno;
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? CRR_ELOCKED : -errno;
        if (rc == CRR_ELOCKED)
            *holder = s_read_pid(f);
        close(f);
        return rc;
    }
    if ((rc = s_write_pid(f)) != 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

char *crr_datadir_holder_text(long holder, char *buf, size_t len)
{
    if (holder > 0)
        snprintf(buf, len, "%ld", holder);
    else
        snprintf(buf, len, "unknown");
    return buf;
}

void crr_datadir_unlock(int *fd)
{
    if (*fd < 0)
        return;
    close(*fd); /* closing the only descriptor releases the flock */
    *fd = -1;
}

int crr_datadir_sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        return -ENAMETOOLONG;
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* Writes all of data to fd, through EINTR and short writes. */
static int s_write_all(int fd, const char *p, size_t left)
{
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        left -= (size_t)w;
    }
    return 0;
}

int crr_datadir_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    /* a temporary file left by a crash keeps its mode through O_CREAT */
    int rc = fchmod(fd, mode) != 0 ? -errno : 0;
    if (rc == 0)
        rc = s_write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return crr_datadir_sync_parent(path);
}
