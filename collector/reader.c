/* reader: newline-delimited input with exact byte offsets.
 *
 * stdio would hide how far a line ends in the file; checkpoints need that
 * offset exactly, so this reads into its own buffer and counts. A line is
 * the bytes up to '\n' (a trailing '\r' is left to the JSON parser, which
 * treats it as whitespace). A last line without '\n' may still be being
 * written: it is left unread at EOF (the offset stays before it) unless the
 * input is known to be finished (stdin, or crr_reader_take_last). Lines
 * longer than max_line are read to their newline (or the end of a finished
 * input) without being kept, then reported once as CRR_READER_TOOLONG with
 * their start, counting as one line; the offset is then after the whole line,
 * never inside it. While one is read, its first bytes stay at buf[start] and
 * the rest is dropped as it comes, counting one chosen byte (crr_reader_count:
 * a CSV input's quotes, so it can tell where a quoted cell closes).
 * Invariants: buf[start..end) is unread data; `off` is the file offset of
 * buf[start]; `line` counts lines returned so far (including skipped ones).
 * A name ending in ".gz" is read through zlib (gzread): offsets and the
 * checkpoint are then in uncompressed bytes, a seek decompresses from the
 * start up to the offset (gzseek), the file counts as complete (its last
 * line is taken; a compressed file is never appended to), and data that is
 * not gzip, or a damaged or truncated stream, is a read error (-EBADMSG).
 * Threading: one thread. Does not decide what a line means. */
#include "reader.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct crr_reader {
    int fd;             /* input fd */
    gzFile gz;          /* a .gz file: decompressed through this (its own dup of fd) */
    int is_stdin;       /* fd 0, not ours to close */
    char *buf;          /* cap + 1 bytes (room for a NUL after a last line) */
    size_t cap;         /* buffer size: max_line + 1 */
    size_t start, end;  /* unread bytes */
    uint64_t off;       /* file offset of buf[start] */
    uint64_t line;      /* lines returned */
    int eof;            /* the fd hit EOF */
    int skipping;       /* inside an over-long line: its start kept, the rest dropped */
    size_t keep;        /* bytes of its start kept at buf[start] */
    uint64_t skipped;   /* bytes of it dropped so far */
    int count_byte;     /* the byte counted over an over-long line, or -1 */
    uint64_t counted;   /* how many of it the over-long line held */
    int take_last;      /* at EOF, return a last line without '\n' (stdin: yes) */
    size_t prev_start;  /* state before the last returned line (unread) */
    uint64_t prev_off;  /* ... */
    uint64_t prev_line; /* ... */
};

/* Whether path names a gzip-compressed file (ends in ".gz"). */
static int s_is_gz_name(const char *path)
{
    size_t n = strlen(path);
    return n > 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* Opens the zlib stream of a .gz file on a dup of r->fd. 0 or -errno. */
static int s_gz_open(crr_reader_t *r)
{
    int fd2 = dup(r->fd);
    if (fd2 < 0)
        return -errno;
    if (!(r->gz = gzdopen(fd2, "rb"))) {
        close(fd2);
        return -ENOMEM;
    }
    r->take_last = 1; /* complete when it is read: never appended to */
    return 0;
}

/* Whether fd is a directory (open succeeds on one; read fails later). */
static int s_is_dir(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

int crr_reader_open(const char *path, size_t max_line, crr_reader_t **out)
{
    *out = NULL;
    crr_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->cap = max_line + 1;
    r->count_byte = -1;
    if (!(r->buf = malloc(r->cap + 1))) {
        free(r);
        return -ENOMEM;
    }
    if (strcmp(path, "-") == 0) {
        r->fd = 0;
        r->is_stdin = 1;
        r->take_last = 1; /* stdin's end is final: the producer closed it */
    } else if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || s_is_dir(r->fd)) {
        int rc = r->fd < 0 ? -errno : -EISDIR;
        if (r->fd >= 0)
            close(r->fd);
        free(r->buf);
        free(r);
        return rc;
    }
    if (!r->is_stdin && s_is_gz_name(path)) {
        int rc = s_gz_open(r);
        if (rc) {
            close(r->fd);
            free(r->buf);
            free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

void crr_reader_close(crr_reader_t **rp)
{
    if (!rp || !*rp)
        return;
    crr_reader_t *r = *rp;
    if (r->gz)
        gzclose(r->gz);
    if (!r->is_stdin && r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r);
    *rp = NULL;
}

int crr_reader_seek(crr_reader_t *r, uint64_t offset, uint64_t line)
{
    if (r->is_stdin)
        return -ESPIPE;
    if (r->gz) {
        /* decompresses up to offset (a shorter stream then reads as ended) */
        if (gzrewind(r->gz) != 0 || gzseek(r->gz, (z_off_t)offset, SEEK_SET) != (z_off_t)offset)
            return -EBADMSG;
    } else if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0) {
        return -errno;
    }
    r->start = r->end = 0;
    r->off = offset;
    r->line = line;
    r->eof = 0;
    r->skipping = 0;
    r->skipped = 0;
    return 0;
}

long crr_reader_fill(crr_reader_t *r)
{
    if (r->start > 0 && (r->end == r->cap || r->start == r->end)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->prev_start = r->prev_start >= r->start ? r->prev_start - r->start : 0;
        r->start = 0;
    }
    if (r->end == r->cap)
        return 0; /* full: the caller handles an over-long line */
    ssize_t n;
    if (r->gz) {
        int got = gzread(r->gz, r->buf + r->end, (unsigned)(r->cap - r->end));
        int zerr = Z_OK;
        if (got == 0)
            (void)gzerror(r->gz, &zerr); /* a truncated stream ends with Z_BUF_ERROR */
        if (got < 0 || zerr != Z_OK || (got > 0 && gzdirect(r->gz)))
            return -EBADMSG; /* damaged or truncated stream, or not gzip at all */
        n = got;
    } else {
        do
            n = read(r->fd, r->buf + r->end, r->cap - r->end);
        while (n < 0 && errno == EINTR);
    }
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        r->eof = 1;
    r->end += (size_t)n;
    return (long)n;
}

/* How many count_byte s[0..n) holds. */
static uint64_t s_count(const crr_reader_t *r, const char *s, size_t n)
{
    uint64_t k = 0;
    if (r->count_byte < 0)
        return 0;
    for (const char *q = s; (q = memchr(q, r->count_byte, (size_t)(s + n - q))) != NULL; q++)
        k++;
    return k;
}

/* A full buffer without a newline: keeps the line's start at buf[0] and
 * starts dropping the rest (counting count_byte over all of it). */
static void s_skip_start(crr_reader_t *r)
{
    size_t avail = r->end - r->start;
    r->counted = s_count(r, r->buf + r->start, avail);
    r->keep = r->cap > CRR_READER_TOOLONG_KEEP + 32 ? CRR_READER_TOOLONG_KEEP : r->cap / 2;
    memmove(r->buf, r->buf + r->start, r->keep);
    r->skipped = avail - r->keep;
    r->start = 0;
    r->end = r->keep;
    r->skipping = 1;
}

/* Inside an over-long line: drops what came after its kept start, up to and
 * including its newline. Returns CRR_READER_TOOLONG (the line is done: its
 * start in *line) or 0 (more of it to read). */
static int s_skip_more(crr_reader_t *r, char **line, size_t *len)
{
    char *from = r->buf + r->start + r->keep;
    size_t avail = r->end - r->start - r->keep;
    char *nl = memchr(from, '\n', avail);
    size_t n = nl ? (size_t)(nl - from) : avail;
    r->counted += s_count(r, from, n);
    r->skipped += n;
    if (!nl && !(r->eof && r->take_last)) {
        r->end = r->start + r->keep; /* dropped; room for more */
        return 0;
    }
    *line = r->buf + r->start;
    *len = r->keep;
    r->off += r->keep + r->skipped + (nl ? 1 : 0);
    r->start += r->keep + n + (nl ? 1 : 0);
    r->line++;
    r->skipping = 0;
    r->skipped = 0;
    return CRR_READER_TOOLONG;
}

int crr_reader_next(crr_reader_t *r, int may_read, char **line, size_t *len)
{
    for (;;) {
        char *base = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = memchr(base, '\n', avail);
        if (r->skipping) {
            if (s_skip_more(r, line, len))
                return CRR_READER_TOOLONG;
        } else if (nl) {
            r->prev_start = r->start;
            r->prev_off = r->off;
            r->prev_line = r->line;
            *line = base;
            *len = (size_t)(nl - base);
            r->start += *len + 1;
            r->off += *len + 1;
            r->line++;
            return 1;
        } else if (avail == r->cap) {
            s_skip_start(r); /* no newline in a full buffer: over-long line */
            continue;
        } else if (r->eof) {
            if (avail == 0 || !r->take_last)
                return CRR_READER_EOF; /* an unterminated last line stays unread */
            r->prev_start = r->start;
            r->prev_off = r->off;
            r->prev_line = r->line;
            *line = base;
            *len = avail;
            base[avail] = '\0'; /* room reserved: buf has cap + 1 bytes */
            r->start = r->end;
            r->off += avail;
            r->line++;
            return 1;
        }
        if (r->eof)
            return CRR_READER_EOF;
        if (!may_read)
            return CRR_READER_AGAIN;
        long n = crr_reader_fill(r);
        if (n < 0)
            return (int)n;
    }
}

void crr_reader_count(crr_reader_t *r, int byte)
{
    r->count_byte = byte;
}

uint64_t crr_reader_counted(const crr_reader_t *r)
{
    return r->counted;
}

void crr_reader_take_last(crr_reader_t *r, int yes)
{
    r->take_last = r->gz ? 1 : yes;
}

size_t crr_reader_unterminated(const crr_reader_t *r)
{
    return r->eof ? r->end - r->start + (r->skipping ? r->skipped : 0) : 0;
}

int crr_reader_ready(const crr_reader_t *r)
{
    size_t avail = r->end - r->start;
    size_t from = r->skipping ? r->keep : 0; /* an over-long line: its end */
    return r->eof || (!r->skipping && avail == r->cap) ||
           memchr(r->buf + r->start + from, '\n', avail - from) != NULL;
}

void crr_reader_unread(crr_reader_t *r)
{
    r->start = r->prev_start;
    r->off = r->prev_off;
    r->line = r->prev_line;
}

uint64_t crr_reader_offset(const crr_reader_t *r)
{
    return r->off;
}
uint64_t crr_reader_line(const crr_reader_t *r)
{
    return r->line;
}
int crr_reader_fd(const crr_reader_t *r)
{
    return r->fd;
}
int crr_reader_is_stdin(const crr_reader_t *r)
{
    return r->is_stdin;
}

int64_t crr_reader_size(const crr_reader_t *r)
{
    struct stat st;
    if (r->is_stdin || fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    if (r->gz)
        return INT64_MAX; /* uncompressed size unknown until read whole */
    return (int64_t)st.st_size;
}

int crr_reader_stat(const crr_reader_t *r, uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    if (r->is_stdin)
        return -ESPIPE;
    if (fstat(r->fd, &st) != 0)
        return -errno;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

int crr_reader_fingerprint(const crr_reader_t *r, uint32_t len, uint64_t *hash)
{
    uint8_t buf[CRR_READER_FP_MAX];
    if (r->is_stdin)
        return -ESPIPE;
    if (len > sizeof buf)
        return CRR_EINVAL;
    struct stat st;
    if (r->gz && fstat(r->fd, &st) == 0 && (uint64_t)st.st_size < len)
        len = (uint32_t)st.st_size; /* offsets are uncompressed: hash the whole (fixed) file */
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(r->fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return CRR_ENOTFOUND;
        got += (size_t)n;
    }
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < len; i++)
        h = (h ^ buf[i]) * 0x100000001b3ull;
    *hash = h;
    return 0;
}
