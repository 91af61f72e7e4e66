/* reader: newline-delimited input (a file or stdin) read with exact byte
 * offsets and line numbers, for checkpoints and rejects, and the identity of
 * an input file (device, inode, fingerprint of its first bytes) so that a
 * file replaced under the same name is told from one that only grew.
 * One thread per reader. Does not decide what a line means (common/edge.h). */
#ifndef CRR_READER_H
#define CRR_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct crr_reader crr_reader_t;

/* crr_reader_next results besides a line (1). */
#define CRR_READER_AGAIN 0   /* no complete line buffered (stdin: poll, then fill) */
#define CRR_READER_EOF (-1)  /* end of input (an unterminated last line may stay unread) */
#define CRR_READER_TOOLONG 2 /* a line longer than max_line: *line holds its start */

/* Bytes of an over-long line's start that CRR_READER_TOOLONG gives (half of
 * max_line when it is under this and 32). */
#define CRR_READER_TOOLONG_KEEP 200

/* Opens path ("-" = stdin) for reading lines of at most max_line bytes.
 * A path ending in ".gz" is decompressed (zlib): offsets, lines, seeks and
 * checkpoints are then in uncompressed bytes, its last line is always taken
 * (a compressed file is complete), its size reads as INT64_MAX, and a
 * stream that is damaged, truncated or not gzip fails to read (-EBADMSG).
 * Returns 0 and *out, -errno (-EISDIR for a directory), or -ENOMEM. */
int crr_reader_open(const char *path, size_t max_line, crr_reader_t **out);
/* Closes the file (not stdin), frees, nulls *rp; idempotent. */
void crr_reader_close(crr_reader_t **rp);
/* Positions a file at byte offset (the start of line `line` + 1). Returns 0 or -errno. */
int crr_reader_seek(crr_reader_t *r, uint64_t offset, uint64_t line);
/* Reads once from the fd into the buffer (stdin: call when poll says readable).
 * Returns bytes read (0 at EOF) or -errno. */
long crr_reader_fill(crr_reader_t *r);
/* Next line without its newline in *line and *len (valid until the next call; the
 * byte after it may be overwritten with NUL by the caller). may_read: read
 * from the fd when the buffer holds no full line (files: 1; stdin: 0 and use
 * crr_reader_fill). An over-long line is answered once it has been read to
 * its end (its newline, or the end of a finished input): CRR_READER_TOOLONG
 * with its first CRR_READER_TOOLONG_KEEP bytes, the offset after all of it.
 * Returns 1 (line), CRR_READER_TOOLONG, CRR_READER_AGAIN,
 * CRR_READER_EOF, or -errno. */
int crr_reader_next(crr_reader_t *r, int may_read, char **line, size_t *len);
/* Counts `byte` over every over-long line (all of it, not only its start):
 * crr_reader_counted then says how many it held. -1 (the default) = none. */
void crr_reader_count(crr_reader_t *r, int byte);
/* How many of the counted byte the over-long line just returned
 * (CRR_READER_TOOLONG) held. */
uint64_t crr_reader_counted(const crr_reader_t *r);
/* Whether a last line without '\n' is returned at EOF (yes: the input is
 * known to be finished) or left unread, as it may still be being written.
 * Default: yes for stdin, no for files. */
void crr_reader_take_last(crr_reader_t *r, int yes);
/* Bytes of an unterminated last line left unread at EOF (0 if none). */
size_t crr_reader_unterminated(const crr_reader_t *r);
/* Whether crr_reader_next can answer without reading the fd: a complete (or
 * over-long) line is buffered, or the input has ended. */
int crr_reader_ready(const crr_reader_t *r);
/* Puts back the line just returned by crr_reader_next (not a TOOLONG one). */
void crr_reader_unread(crr_reader_t *r);
/* Byte offset just after the last returned line, and its line number. */
uint64_t crr_reader_offset(const crr_reader_t *r);
uint64_t crr_reader_line(const crr_reader_t *r);
/* The fd (for polling stdin). */
int crr_reader_fd(const crr_reader_t *r);
/* Whether this reader is stdin. */
int crr_reader_is_stdin(const crr_reader_t *r);
/* Size of the file in bytes (-1 for stdin or unknown). */
int64_t crr_reader_size(const crr_reader_t *r);

/* Longest prefix of a file its fingerprint covers. */
#define CRR_READER_FP_MAX 4096

/* st_dev and st_ino of the open file. Returns 0, -ESPIPE for stdin, or
 * -errno. */
int crr_reader_stat(const crr_reader_t *r, uint64_t *dev, uint64_t *ino);
/* Fingerprint of the file: a 64-bit FNV-1a hash of its first len bytes
 * (len <= CRR_READER_FP_MAX), read with pread so the reading position is
 * kept. Two fingerprints compare only when taken over the same len. Returns
 * 0, CRR_ENOTFOUND when the file holds fewer than len bytes, or -errno. */
int crr_reader_fingerprint(const crr_reader_t *r, uint32_t len, uint64_t *hash);

#endif
