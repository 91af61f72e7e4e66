/* test_reader: collector/reader over real files and pipes: lines with exact
 * offsets and numbers, an unterminated last line left unread (files) or
 * taken (stdin-like finished input), over-long lines (also as an
 * unterminated last line: left unread while the input may grow, answered
 * once when it is finished), unread, seek, a
 * directory refused at open, and the identity (device, inode, fingerprint
 * over a given length, position kept); .gz files: decompressed lines and
 * offsets, a seek to an uncompressed offset, the last line taken, and
 * damaged or non-gzip data refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "err.h"
#include "reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tmpdir_fixture.h"

#include <zlib.h>

FX_TMPDIR_FIXTURE("reader")

/* Writes text to DIR/name; returns the path (static). */
static const char *s_file(const char *name, const char *text, const char *mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The next line as a string ("" when none), asserting the result code. */
static const char *s_next(crr_reader_t *r, int want)
{
    static char buf[256];
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(crr_reader_next(r, 1, &line, &len), want);
    buf[0] = '\0';
    if (want == 1 || want == CRR_READER_TOOLONG)
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
    return buf;
}

/* Writes text gzip-compressed to DIR/name; returns the path (static). */
static const char *s_gz(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    assert_int_equal(gzclose(g), Z_OK);
    return path;
}

static void test_gz_lines_offsets_and_seek(void **state)
{
    (void)state;
    const char *p = s_gz("a.jsonl.gz", "one\ntwo\nthree");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    crr_reader_take_last(r, 0); /* ignored: a compressed file is complete */
    assert_int_equal(crr_reader_size(r), INT64_MAX);
    assert_string_equal(s_next(r, 1), "one");
    assert_int_equal(crr_reader_offset(r), 4);
    assert_string_equal(s_next(r, 1), "two");
    assert_int_equal(crr_reader_offset(r), 8);
    assert_string_equal(s_next(r, 1), "three");
    assert_int_equal(crr_reader_line(r), 3);
    s_next(r, CRR_READER_EOF);
    /* a checkpoint in uncompressed bytes: resume after line 1 */
    assert_int_equal(crr_reader_seek(r, 4, 1), 0);
    assert_string_equal(s_next(r, 1), "two");
    assert_int_equal(crr_reader_line(r), 2);
    /* the fingerprint of a small file covers the whole (fixed) compressed file */
    uint64_t h1 = 0, h2 = 0;
    assert_int_equal(crr_reader_fingerprint(r, 4096, &h1), 0);
    assert_int_equal(crr_reader_fingerprint(r, 4096, &h2), 0);
    assert_true(h1 == h2);
    crr_reader_close(&r);
}

static void test_gz_damaged_or_plain_refused(void **state)
{
    (void)state;
    const char *p = s_file("plain.jsonl.gz", "{\"not\":\"gzip\"}\n", "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    s_next(r, -EBADMSG);
    crr_reader_close(&r);
    /* a truncated stream: the first bytes of a real one */
    char big[2000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)(i % 50 == 49 ? '\n' : 'a' + (char)(i * 7 % 26));
    big[sizeof big - 1] = '\0';
    const char *g = s_gz("t.jsonl.gz", big);
    struct stat st;
    assert_int_equal(stat(g, &st), 0);
    assert_int_equal(truncate(g, st.st_size / 2), 0);
    assert_int_equal(crr_reader_open(g, 4096, &r), 0);
    int rc;
    char *line;
    size_t len;
    while ((rc = crr_reader_next(r, 1, &line, &len)) == 1)
        ;
    assert_int_equal(rc, -EBADMSG);
    crr_reader_close(&r);
}

static void test_lines_and_unterminated_last(void **state)
{
    (void)state;
    const char *p = s_file("a", "one\ntwo\r\nthr", "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    assert_string_equal(s_next(r, 1), "one");
    assert_int_equal(crr_reader_offset(r), 4);
    assert_int_equal(crr_reader_line(r), 1);
    assert_string_equal(s_next(r, 1), "two\r");
    assert_int_equal(crr_reader_offset(r), 9);
    /* "thr" may still be being written: left unread, offset before it */
    s_next(r, CRR_READER_EOF);
    assert_int_equal(crr_reader_offset(r), 9);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_unterminated(r), 3);
    assert_true(crr_reader_ready(r));
    /* told the input is finished, it is taken */
    crr_reader_take_last(r, 1);
    assert_string_equal(s_next(r, 1), "thr");
    assert_int_equal(crr_reader_offset(r), 12);
    s_next(r, CRR_READER_EOF);
    assert_int_equal(crr_reader_unterminated(r), 0);
    crr_reader_close(&r);
    crr_reader_close(&r);
    assert_null(r);
}

static void test_resume_after_completion(void **state)
{
    (void)state;
    const char *p = s_file("b", "one\ntw", "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    assert_string_equal(s_next(r, 1), "one");
    s_next(r, CRR_READER_EOF);
    uint64_t off = crr_reader_offset(r), line = crr_reader_line(r);
    crr_reader_close(&r);
    s_file("b", "o\n", "a");
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    assert_int_equal(crr_reader_seek(r, off, line), 0);
    assert_string_equal(s_next(r, 1), "two");
    assert_int_equal(crr_reader_line(r), 2);
    s_next(r, CRR_READER_EOF);
    crr_reader_close(&r);
}

static void test_too_long_and_unread(void **state)
{
    (void)state;
    char text[1200];
    memset(text, 'x', 1000);
    text[3] = text[250] = text[999] = '"'; /* one in its start, two in the dropped rest */
    snprintf(text + 1000, sizeof text - 1000, "\nshort\n");
    const char *p = s_file("c", text, "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 300, &r), 0);
    crr_reader_count(r, '"');
    /* answered once read to its end: its start, the offset after all of it */
    assert_int_equal(strlen(s_next(r, CRR_READER_TOOLONG)), CRR_READER_TOOLONG_KEEP);
    assert_int_equal(crr_reader_counted(r), 3);
    assert_int_equal(crr_reader_line(r), 1);
    assert_int_equal(crr_reader_offset(r), 1001);
    assert_string_equal(s_next(r, 1), "short");
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 1007);
    crr_reader_unread(r);
    assert_int_equal(crr_reader_line(r), 1);
    assert_int_equal(crr_reader_offset(r), 1001);
    assert_string_equal(s_next(r, 1), "short");
    s_next(r, CRR_READER_EOF);
    crr_reader_close(&r);
}

/* "a\n" then an over-long last line of 600 bytes without '\n' ('x', with '"'
 * at 0, 300 and 599: the last one in its final bytes). */
static void s_long_last(char *text, size_t cap)
{
    assert_true(cap > 603);
    memset(text, 'x', 602);
    text[0] = 'a';
    text[1] = '\n';
    text[2] = text[302] = text[601] = '"';
    text[602] = '\0';
}

static void test_too_long_last_line_unterminated_file(void **state)
{
    (void)state;
    char text[700];
    s_long_last(text, sizeof text);
    const char *p = s_file("long", text, "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    crr_reader_count(r, '"');
    assert_string_equal(s_next(r, 1), "a");
    /* may still be being written: nothing taken, however often asked */
    for (int i = 0; i < 2; i++) {
        s_next(r, CRR_READER_EOF);
        assert_int_equal(crr_reader_line(r), 1);
        assert_int_equal(crr_reader_offset(r), 2);
        assert_int_equal(crr_reader_unterminated(r), 600);
        assert_true(crr_reader_ready(r));
    }
    /* the input is finished: answered once as too long, the offset after all of it */
    crr_reader_take_last(r, 1);
    const char *start = s_next(r, CRR_READER_TOOLONG);
    assert_int_equal(strlen(start), CRR_READER_TOOLONG_KEEP);
    assert_memory_equal(start, text + 2, CRR_READER_TOOLONG_KEEP);
    assert_int_equal(crr_reader_counted(r), 3);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 602);
    s_next(r, CRR_READER_EOF);
    s_next(r, CRR_READER_EOF);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 602);
    assert_int_equal(crr_reader_unterminated(r), 0);
    crr_reader_close(&r);
    /* left unread, then completed by its writer: resumed before it, answered once */
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    assert_string_equal(s_next(r, 1), "a");
    s_next(r, CRR_READER_EOF);
    crr_reader_close(&r);
    s_file("long", "x\nnext\n", "a");
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    assert_int_equal(crr_reader_seek(r, 2, 1), 0);
    s_next(r, CRR_READER_TOOLONG);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 604);
    assert_string_equal(s_next(r, 1), "next");
    assert_int_equal(crr_reader_line(r), 3);
    s_next(r, CRR_READER_EOF);
    crr_reader_close(&r);
}

static void test_too_long_last_line_boundaries(void **state)
{
    (void)state;
    /* a finished input's last line of max_line bytes is a line; one byte more is too long */
    for (size_t n = 14; n <= 18; n++) {
        char text[32] = "a\n";
        memset(text + 2, 'y', n);
        text[2 + n] = '\0';
        const char *p = s_file("edge", text, "w");
        crr_reader_t *r = NULL;
        assert_int_equal(crr_reader_open(p, 16, &r), 0);
        crr_reader_take_last(r, 1);
        assert_string_equal(s_next(r, 1), "a");
        const char *got = s_next(r, n <= 16 ? 1 : CRR_READER_TOOLONG);
        assert_int_equal(strlen(got), n <= 16 ? n : 8); /* too long: half of max_line kept */
        assert_int_equal(crr_reader_line(r), 2);
        assert_int_equal(crr_reader_offset(r), 2 + n);
        s_next(r, CRR_READER_EOF);
        assert_int_equal(crr_reader_line(r), 2);
        assert_int_equal(crr_reader_unterminated(r), 0);
        crr_reader_close(&r);
    }
}

static void test_too_long_last_line_pipe(void **state)
{
    (void)state;
    char text[700];
    s_long_last(text, sizeof text);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(0);
    assert_int_equal(dup2(fds[0], 0), 0);
    close(fds[0]);
    assert_int_equal(write(fds[1], text, 602), 602);
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open("-", 256, &r), 0);
    crr_reader_count(r, '"');
    char *line;
    size_t len;
    long got = 0;
    int lines = 0;
    /* still open: every byte read, the line not taken (the writer may add more) */
    while (got < 602) {
        long n = crr_reader_fill(r);
        assert_true(n > 0);
        got += n;
        int rc;
        while ((rc = crr_reader_next(r, 0, &line, &len)) == 1)
            lines++;
        assert_int_equal(rc, CRR_READER_AGAIN);
    }
    assert_int_equal(lines, 1);
    assert_int_equal(crr_reader_line(r), 1);
    assert_int_equal(crr_reader_offset(r), 2);
    assert_int_equal(crr_reader_unterminated(r), 0);
    assert_false(crr_reader_ready(r));
    /* closed: answered once as too long, the offset after all of it */
    close(fds[1]);
    assert_int_equal(crr_reader_fill(r), 0);
    assert_true(crr_reader_ready(r));
    assert_int_equal(crr_reader_next(r, 0, &line, &len), CRR_READER_TOOLONG);
    assert_int_equal(len, CRR_READER_TOOLONG_KEEP);
    assert_memory_equal(line, text + 2, CRR_READER_TOOLONG_KEEP);
    assert_int_equal(crr_reader_counted(r), 3);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 602);
    assert_int_equal(crr_reader_next(r, 0, &line, &len), CRR_READER_EOF);
    assert_int_equal(crr_reader_next(r, 0, &line, &len), CRR_READER_EOF);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_unterminated(r), 0);
    crr_reader_close(&r);
    dup2(saved, 0);
    close(saved);
}

static void test_too_long_last_line_gz(void **state)
{
    (void)state;
    char text[700];
    s_long_last(text, sizeof text);
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(s_gz("long.jsonl.gz", text), 256, &r), 0);
    crr_reader_count(r, '"');
    assert_string_equal(s_next(r, 1), "a");
    s_next(r, CRR_READER_TOOLONG); /* a compressed file is complete */
    assert_int_equal(crr_reader_counted(r), 3);
    assert_int_equal(crr_reader_line(r), 2);
    assert_int_equal(crr_reader_offset(r), 602);
    s_next(r, CRR_READER_EOF);
    assert_int_equal(crr_reader_line(r), 2);
    crr_reader_close(&r);
}

static void test_directory_refused(void **state)
{
    (void)state;
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(s_dir, 256, &r), -EISDIR);
    assert_null(r);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none", s_dir);
    assert_int_equal(crr_reader_open(missing, 256, &r), -ENOENT);
}

static void test_identity(void **state)
{
    (void)state;
    const char *p = s_file("d", "header\nbody one\n", "w");
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open(p, 256, &r), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    uint64_t dev = 0, ino = 0, h7 = 0, h7b = 0, h16 = 0, h0 = 0;
    assert_int_equal(crr_reader_stat(r, &dev, &ino), 0);
    assert_true(dev == (uint64_t)st.st_dev && ino == (uint64_t)st.st_ino);
    assert_int_equal(crr_reader_fingerprint(r, 0, &h0), 0);
    assert_int_equal(crr_reader_fingerprint(r, 7, &h7), 0);
    assert_int_equal(crr_reader_fingerprint(r, 16, &h16), 0);
    assert_true(h0 != h7 && h7 != h16);
    assert_int_equal(crr_reader_fingerprint(r, 17, &h16), CRR_ENOTFOUND);
    assert_int_equal(crr_reader_fingerprint(r, CRR_READER_FP_MAX + 1, &h16), CRR_EINVAL);
    /* the reading position is kept */
    assert_string_equal(s_next(r, 1), "header");
    crr_reader_close(&r);
    /* another file with the same header: same fingerprint over the header only */
    const char *q = s_file("e", "header\nbody two\n", "w");
    assert_int_equal(crr_reader_open(q, 256, &r), 0);
    assert_int_equal(crr_reader_fingerprint(r, 7, &h7b), 0);
    assert_true(h7 == h7b);
    assert_int_equal(crr_reader_fingerprint(r, 16, &h7b), 0);
    assert_true(h7b != h16);
    crr_reader_close(&r);
}

static void test_pipe_is_stdin_like(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(0);
    assert_int_equal(dup2(fds[0], 0), 0);
    close(fds[0]);
    assert_int_equal(write(fds[1], "a\nlast", 6), 6);
    close(fds[1]);
    crr_reader_t *r = NULL;
    assert_int_equal(crr_reader_open("-", 256, &r), 0);
    assert_true(crr_reader_is_stdin(r));
    uint64_t dev, ino, h;
    assert_int_equal(crr_reader_stat(r, &dev, &ino), -ESPIPE);
    assert_int_equal(crr_reader_fingerprint(r, 0, &h), -ESPIPE);
    assert_false(crr_reader_ready(r));
    assert_int_equal(crr_reader_fill(r), 6);
    assert_true(crr_reader_ready(r));
    char *line;
    size_t len;
    assert_int_equal(crr_reader_next(r, 0, &line, &len), 1);
    assert_int_equal(crr_reader_next(r, 0, &line, &len), CRR_READER_AGAIN);
    assert_false(crr_reader_ready(r));
    assert_int_equal(crr_reader_fill(r), 0); /* closed: the end is final */
    assert_int_equal(crr_reader_next(r, 0, &line, &len), 1);
    assert_int_equal(len, 4);
    assert_memory_equal(line, "last", 4);
    assert_int_equal(crr_reader_next(r, 0, &line, &len), CRR_READER_EOF);
    crr_reader_close(&r);
    dup2(saved, 0);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_unterminated_last),
        cmocka_unit_test(test_resume_after_completion),
        cmocka_unit_test(test_too_long_and_unread),
        cmocka_unit_test(test_too_long_last_line_unterminated_file),
        cmocka_unit_test(test_too_long_last_line_boundaries),
        cmocka_unit_test(test_too_long_last_line_pipe),
        cmocka_unit_test(test_too_long_last_line_gz),
        cmocka_unit_test(test_directory_refused),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_pipe_is_stdin_like),
        cmocka_unit_test(test_gz_lines_offsets_and_seek),
        cmocka_unit_test(test_gz_damaged_or_plain_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
