/* test_seen: collector/seen, the files-read list kept beside the spool: a
 * missing list is empty, an add is on disk at once (whole file, no temporary
 * left behind), a reload sees it, duplicates and paths with a newline are
 * not written, an unwritable folder is an error that keeps the old file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "datadir.h"
#include "seen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir_fixture.h"

FX_TMPDIR_FIXTURE("seen")

/* The list file's content (static buffer). */
static const char *s_content(void)
{
    static char buf[1024];
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, CRR_DATADIR_FILES_READ);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_add_and_reload(void **state)
{
    (void)state;
    crr_seen_t *s = NULL;
    assert_int_equal(crr_seen_load(s_dir, &s), 0);
    assert_false(crr_seen_has(s, "/data/a.jsonl"));
    assert_null(s_content());
    assert_int_equal(crr_seen_add(s, "/data/a.jsonl"), 0);
    assert_int_equal(crr_seen_add(s, "/data/b.jsonl"), 0);
    assert_int_equal(crr_seen_add(s, "/data/a.jsonl"), 0);
    assert_int_equal(crr_seen_add(s, "/data/odd\nname"), 0);
    assert_string_equal(s_content(), "/data/a.jsonl\n/data/b.jsonl\n");
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", s_dir, CRR_DATADIR_FILES_READ);
    assert_int_equal(access(tmp, F_OK), -1);
    crr_seen_free(&s);
    crr_seen_free(&s);
    assert_int_equal(crr_seen_load(s_dir, &s), 0);
    assert_true(crr_seen_has(s, "/data/a.jsonl"));
    assert_true(crr_seen_has(s, "/data/b.jsonl"));
    assert_false(crr_seen_has(s, "/data/c.jsonl"));
    crr_seen_free(&s);
}

static void test_unwritable_folder(void **state)
{
    (void)state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/gone", s_dir);
    crr_seen_t *s = NULL;
    assert_int_equal(crr_seen_load(missing, &s), 0); /* nothing to read yet */
    assert_int_equal(crr_seen_add(s, "/data/a.jsonl"), -ENOENT);
    assert_true(crr_seen_has(s, "/data/a.jsonl")); /* in memory, written with the next add */
    crr_seen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_reload),
        cmocka_unit_test(test_unwritable_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
