/* test_csvin: common/csvin, CSV text -> Events: quoting (commas, quotes,
 * newlines in cells), a byte-order mark, CRLF and blank lines, physical line
 * numbers, the type from a column or the file name, enums by short name,
 * booleans, the whole file refused for an unknown column, every problem of a
 * record listed, empty and header-only files, the text of a rejected record
 * spanning lines (crr_csvin_record_text), a record that holds an over-long
 * line or is over-long itself rejected once, whole, at its first line, with
 * the records after it read in step; and crr_edge_line_all listing
 * every rule a JSON line breaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "codec.h"
#include "csvin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const crr_validate_opts_t s_vo = {.now_sec = 1772366400, .future_slack_sec = 300};

/* What feeding a whole text gave. */
typedef struct {
    Crrmon__V1__Event *ev[16];
    long ev_line[16];
    size_t nev;
    crr_problems_t rej[16];
    char rej_text[16][256]; /* crr_csvin_record_text of each reject */
    size_t nrej;
    int badfile; /* CRR_CSVIN_BADFILE seen */
    crr_problems_t bad;
} s_got_t;

/* The record text of c as a C string (256 bytes, cut). */
static void s_text(const crr_csvin_t *c, char *out)
{
    size_t n;
    const char *t = crr_csvin_record_text(c, &n);
    snprintf(out, 256, "%.*s", (int)n, t);
}

/* How many '"' s[0..n) holds. */
static uint64_t s_quotes(const char *s, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '"';
    return k;
}

/* Feeds text line by line (split on '\n') as file `name`, then finishes.
 * max: the reader's longest line and the longest record (0: the default);
 * a longer line is fed as the collector's reader gives it: its first 200
 * bytes and its quote count (crr_csvin_toolong). */
static void s_feed_max(const char *name, const char *text, size_t max, s_got_t *g)
{
    memset(g, 0, sizeof *g);
    crr_csvin_t *c = NULL;
    assert_int_equal(crr_csvin_new(name, max, &c), 0);
    uint64_t lineno = 0;
    const char *s = text;
    crr_problems_t p;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        Crrmon__V1__Event *e = NULL;
        int rc = max && len > max ? crr_csvin_toolong(c, s, 200, ++lineno, s_quotes(s, len), &p)
                                  : crr_csvin_line(c, s, len, ++lineno, &s_vo, &e, &p);
        if (rc == 0) {
            g->ev_line[g->nev] = p.d[0].line;
            g->ev[g->nev++] = e;
        } else if (rc == CRR_EREJECT) {
            s_text(c, g->rej_text[g->nrej]);
            g->rej[g->nrej++] = p;
        } else if (rc == CRR_CSVIN_BADFILE) {
            g->badfile = 1;
            g->bad = p;
        } else {
            assert_true(rc == CRR_EDGE_BLANK || rc == CRR_CSVIN_MORE || rc == CRR_CSVIN_HEADER);
        }
        s += len + (nl ? 1 : 0);
    }
    int rc = crr_csvin_finish(c, &p);
    if (rc == CRR_EREJECT) {
        s_text(c, g->rej_text[g->nrej]);
        g->rej[g->nrej++] = p;
    }
    crr_csvin_free(&c);
}

static void s_feed(const char *name, const char *text, s_got_t *g)
{
    s_feed_max(name, text, 0, g);
}

static void s_free(s_got_t *g)
{
    for (size_t i = 0; i < g->nev; i++)
        crr_codec_free(&g->ev[i]->base);
}

static void test_quoting_bom_crlf_blank_lines(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("x.csv",
           "\xEF\xBB\xBF"
           "type,borough,occurred_at,record_id,course_id,session_id,trainer_id,staff_group,"
           "overall,relevance,trainer_quality,purpose_explained,would_recommend\r\n"
           "\r\n"
           "training_feedback,E09000001,2026-02-01T10:00:00Z,\"a,\"\"b\"\"\",\"c\r\n"
           "1\",s,t,OPERATIONAL,5,4,3,2,yes\r\n"
           "training_feedback,E09000002,2026-02-01T10:00:00+01:00,r2,c2,s2,t2,"
           "STAFF_GROUP_OPERATIONAL,1,1,1,1,0\r\n"
           "\r\n"
           "\r\n",
           &g);
    assert_false(g.badfile);
    assert_int_equal(g.nrej, 0);
    assert_int_equal(g.nev, 2);
    assert_int_equal(g.ev_line[0], 3);
    assert_int_equal(g.ev_line[1], 5); /* the quoted newline made record 1 span lines 3-4 */
    Crrmon__V1__TrainingFeedback *tf = g.ev[0]->training_feedback;
    assert_string_equal(g.ev[0]->record_id, "a,\"b\"");
    assert_string_equal(tf->course_id, "c\r\n1");
    assert_int_equal(tf->staff_group, CRRMON__V1__STAFF_GROUP__STAFF_GROUP_OPERATIONAL);
    assert_int_equal(tf->overall, 5);
    assert_true(tf->would_recommend);
    assert_false(g.ev[1]->training_feedback->would_recommend);
    assert_int_equal(g.ev[1]->occurred_at->seconds, 1769936400); /* 09:00Z */
    s_free(&g);
}

static void test_type_from_file_name(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("/in/stop_search-2026-11.csv",
           "borough,occurred_at,ethnicity,outcome,sde_code,grounds_reviewed,count\n"
           "E09000003,2026-02-01T00:00:00Z,black,arrest,B1,TRUE,3\n",
           &g);
    assert_int_equal(g.nev, 1);
    Crrmon__V1__StopSearch *ss = g.ev[0]->stop_search;
    assert_int_equal(ss->ethnicity, CRRMON__V1__ETHNICITY__ETHNICITY_BLACK);
    assert_int_equal(ss->outcome, CRRMON__V1__OUTCOME__OUTCOME_ARREST);
    assert_int_equal(ss->count, 3);
    assert_true(ss->grounds_reviewed);
    s_free(&g);
    /* column names in any case, spaces around unquoted cells trimmed */
    s_feed("/in/export.csv",
           "Type, BOROUGH ,Occurred_At,Count\n"
           "racist_incident, E09000003 , 2026-02-01T00:00:00Z ,2\n",
           &g);
    assert_int_equal(g.nev, 1);
    assert_string_equal(g.ev[0]->borough, "E09000003");
    assert_int_equal(g.ev[0]->racist_incident->count, 2);
    s_free(&g);
    /* no type column, and a name that begins with no type */
    s_feed("/in/export.csv", "borough,occurred_at\nE09000003,2026-02-01T00:00:00Z\n", &g);
    assert_true(g.badfile);
    assert_int_equal(g.nev, 0);
    assert_string_equal(g.bad.d[0].field, "type");
    assert_int_equal(g.bad.d[0].line, 1);
}

static void test_unknown_column_refuses_the_file(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("complaint.csv",
           "borough,occurred_at,category,colour\n"
           "E09000003,2026-02-01T00:00:00Z,DISCRIMINATORY_BEHAVIOUR,red\n"
           "E09000003,2026-02-01T00:00:00Z,DISCRIMINATORY_BEHAVIOUR,blue\n",
           &g);
    assert_true(g.badfile);
    assert_int_equal(g.nev, 0);
    assert_int_equal(g.nrej, 0);
    assert_string_equal(g.bad.value[0], "colour");
    assert_non_null(strstr(g.bad.d[0].reason, "unknown column \"colour\" (column 4)"));
    /* a column without a name */
    s_feed("complaint.csv", "borough,occurred_at,category,\n", &g);
    assert_true(g.badfile);
    assert_non_null(strstr(g.bad.d[0].reason, "column 4 has no name"));
    /* a column named twice */
    s_feed("complaint.csv", "borough,occurred_at,Borough\n", &g);
    assert_true(g.badfile);
    assert_non_null(strstr(g.bad.d[0].reason, "appears twice (columns 1 and 3)"));
    /* a field of another type is unknown in a file of one type */
    s_feed("complaint.csv", "borough,occurred_at,outcome\n", &g);
    assert_true(g.badfile);
}

static void test_every_problem_of_a_record(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("stop_search.csv",
           "borough,occurred_at,ethnicity,outcome,object_found,count\n"
           "E09000099,2026-02-01T00:00:00Z,green,,perhaps,-1\n",
           &g);
    assert_int_equal(g.nev, 0);
    assert_int_equal(g.nrej, 1);
    crr_problems_t *p = &g.rej[0];
    /* the cells that do not convert, then the rules (ethnicity said once) */
    assert_int_equal(p->n, 5);
    assert_string_equal(p->d[0].field, "stop_search.ethnicity");
    assert_string_equal(p->value[0], "green");
    assert_string_equal(p->d[1].field, "stop_search.object_found");
    assert_string_equal(p->value[1], "perhaps");
    assert_string_equal(p->d[2].field, "stop_search.count");
    assert_string_equal(p->value[2], "-1");
    assert_string_equal(p->d[3].field, "borough");
    assert_int_equal(p->d[3].code, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH);
    assert_string_equal(p->value[3], "E09000099");
    assert_string_equal(p->d[4].field, "stop_search.outcome");
    assert_int_equal(p->d[4].code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD);
    for (size_t i = 0; i < p->n; i++) {
        assert_int_equal(p->d[i].line, 2);
        assert_string_equal(p->d[i].file, "stop_search.csv");
    }
}

static void test_invalid_utf8_and_extra_cells(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("racist_incident.csv",
           "borough,occurred_at,record_id\n"
           "E09000001,2026-02-01T00:00:00Z,r\xC3\x28x\n"
           "E09000001,2026-02-01T00:00:00Z,r2,extra\n"
           "E09000001,2026-02-01T00:00:00Z,r3\n",
           &g);
    assert_int_equal(g.nev, 1);
    assert_int_equal(g.ev_line[0], 4);
    assert_int_equal(g.nrej, 2);
    assert_string_equal(g.rej[0].d[0].field, "record_id");
    assert_non_null(strstr(g.rej[0].d[0].reason, "UTF-8"));
    assert_int_equal(g.rej[1].d[0].line, 3);
    assert_non_null(strstr(g.rej[1].d[0].reason, "4 cells but the header 3 columns"));
    s_free(&g);
}

static void test_nul_byte_is_a_problem(void **state)
{
    (void)state;
    crr_csvin_t *c = NULL;
    assert_int_equal(crr_csvin_new("complaint.csv", 0, &c), 0);
    crr_problems_t p;
    Crrmon__V1__Event *e = NULL;
    const char hdr[] = "borough,occurred_at,category";
    const char rec[] = "E09000001,2026-02-01T00:00:00Z,OTHER\0junk";
    assert_int_equal(crr_csvin_line(c, hdr, sizeof hdr - 1, 1, &s_vo, &e, &p), CRR_CSVIN_HEADER);
    assert_int_equal(crr_csvin_line(c, rec, sizeof rec - 1, 2, &s_vo, &e, &p), CRR_EREJECT);
    assert_null(e);
    assert_non_null(strstr(p.d[0].reason, "NUL byte"));
    crr_csvin_free(&c);
}

static void test_empty_header_only_and_open_quote(void **state)
{
    (void)state;
    s_got_t g;
    s_feed("complaint.csv", "", &g);
    assert_int_equal(g.nev + g.nrej + (size_t)g.badfile, 0);
    s_feed("complaint.csv", "borough,occurred_at,category\r\n\r\n", &g);
    assert_int_equal(g.nev + g.nrej + (size_t)g.badfile, 0);
    s_feed("complaint.csv",
           "borough,occurred_at,category\n"
           "E09000001,2026-02-01T00:00:00Z,\"never closed\n"
           "more\n",
           &g);
    assert_int_equal(g.nev, 0);
    assert_int_equal(g.nrej, 1);
    assert_int_equal(g.rej[0].d[0].line, 2);
    assert_non_null(strstr(g.rej[0].d[0].reason, "never closed"));
}

static void test_rejected_record_text_is_whole(void **state)
{
    (void)state;
    s_got_t g;
    /* lines are fed with their '\r' (as the collector's reader gives them) */
    s_feed("complaint.csv",
           "borough,occurred_at,record_id,category\n"
           "E09000001,2026-02-01T00:00:00Z,\"a\nb\nc\",OTHER\n"       /* 2-4: good */
           "E09000099,2026-02-01T00:00:00Z,\"d\r\ne\r\nf\",OTHER\r\n" /* 5-7: bad */
           "E09000002,2026-02-01T00:00:00Z,\"g\nh\",OTHER\n"          /* 8-9: good */
           "E09000003,2026-02-01T00:00:00Z,\"never\nclosed,OTHER\n",  /* 10-11: open */
           &g);
    assert_int_equal(g.nev, 2);
    assert_int_equal(g.ev_line[0], 2);
    assert_int_equal(g.ev_line[1], 8);
    assert_int_equal(g.nrej, 2);
    assert_int_equal(g.rej[0].d[0].line, 5);
    assert_string_equal(g.rej_text[0], "E09000099,2026-02-01T00:00:00Z,\"d\r\ne\r\nf\",OTHER");
    assert_int_equal(g.rej[1].d[0].line, 10);
    assert_string_equal(g.rej_text[1], "E09000003,2026-02-01T00:00:00Z,\"never\nclosed,OTHER");
    s_free(&g);
    /* before any record: empty */
    crr_csvin_t *c = NULL;
    size_t n = 1;
    assert_int_equal(crr_csvin_new("complaint.csv", 0, &c), 0);
    assert_string_equal(crr_csvin_record_text(c, &n), "");
    assert_int_equal(n, 0);
    crr_csvin_free(&c);
}

/* The good records of test_long_*: lines 2, 6 and 7-8 of the text. */
static void s_good_around(const s_got_t *g)
{
    assert_int_equal(g->nev, 3);
    assert_int_equal(g->ev_line[0], 2);
    assert_int_equal(g->ev_line[1], 6);
    assert_int_equal(g->ev_line[2], 7);
    assert_string_equal(g->ev[0]->record_id, "r1");
    assert_string_equal(g->ev[1]->record_id, "r4");
    assert_string_equal(g->ev[2]->record_id, "m\nn");
}

static void test_long_line_rejects_its_whole_record(void **state)
{
    (void)state;
    char x[301], text[1024];
    memset(x, 'x', 300);
    x[300] = '\0';
    /* line 4, over 256 bytes, is inside the quoted cell of the record on
     * lines 3-5; without it, lines 3 and 5 would make a record of their own */
    snprintf(text, sizeof text,
             "borough,occurred_at,record_id,category\n"
             "E09000001,2026-02-01T00:00:00Z,r1,OTHER\n"
             "E09000002,2026-02-01T00:00:00Z,\"a\n%s\n\",OTHER\n"
             "E09000004,2026-02-01T00:00:00Z,r4,OTHER\n"
             "E09000005,2026-02-01T00:00:00Z,\"m\nn\",OTHER\n",
             x);
    s_got_t g;
    s_feed_max("complaint.csv", text, 256, &g);
    s_good_around(&g);
    assert_int_equal(g.nrej, 1);
    assert_int_equal(g.rej[0].n, 1);
    assert_int_equal(g.rej[0].d[0].line, 3);
    assert_int_equal(g.rej[0].d[0].code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED);
    assert_string_equal(g.rej[0].d[0].field, "");
    assert_string_equal(g.rej[0].d[0].reason,
                        "line 4 of the record on lines 3-5 is longer than 256 bytes "
                        "(collector.max_line): the whole record is rejected");
    s_free(&g);
    /* the over-long line closes the quote itself (its quotes are counted
     * over all of it, not only its start); a one-line over-long record is
     * said as a JSON line's */
    x[250] = '"';
    snprintf(text, sizeof text,
             "borough,occurred_at,record_id,category\n"
             "E09000001,2026-02-01T00:00:00Z,r1,OTHER\n"
             "E09000002,2026-02-01T00:00:00Z,\"a\nb\n%s\n"
             "E09000004,2026-02-01T00:00:00Z,r4,OTHER\n"
             "E09000005,2026-02-01T00:00:00Z,\"m\nn\",OTHER\n%s\n",
             x, x);
    s_feed_max("complaint.csv", text, 256, &g);
    s_good_around(&g);
    assert_int_equal(g.nrej, 2);
    assert_int_equal(g.rej[0].d[0].line, 3);
    assert_string_equal(g.rej[0].d[0].reason, "line 5 of the record on lines 3-5 is longer than "
                                              "256 bytes (collector.max_line): the whole record "
                                              "is rejected");
    /* its text: the lines before, and the over-long line's start as fed */
    char want[256];
    snprintf(want, sizeof want, "E09000002,2026-02-01T00:00:00Z,\"a\nb\n%.200s", x);
    assert_string_equal(g.rej_text[0], want);
    assert_int_equal(g.rej[1].d[0].line, 9);
    assert_string_equal(g.rej[1].d[0].reason, "line longer than 256 bytes (collector.max_line)");
    s_free(&g);
    /* an over-long header refuses the file */
    x[250] = 'x';
    snprintf(text, sizeof text, "borough,occurred_at,%s\nE09000001,2026-02-01T00:00:00Z,r1\n", x);
    s_feed_max("complaint.csv", text, 256, &g);
    assert_int_equal(g.badfile, 1);
    assert_int_equal(g.nev + g.nrej, 0);
    assert_int_equal(g.bad.d[0].line, 1);
}

static void test_long_record_rejected_whole(void **state)
{
    (void)state;
    /* each line is short, the record on lines 3-5 is over 120 bytes: it is
     * read to its end and rejected once */
    s_got_t g;
    s_feed_max(
        "complaint.csv",
        "borough,occurred_at,record_id,category\n"
        "E09000001,2026-02-01T00:00:00Z,r1,OTHER\n"
        "E09000002,2026-02-01T00:00:00Z,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        "E09000003,2026-02-01T00:00:00Z,r3,OTHER\n"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",OTHER\n"
        "E09000004,2026-02-01T00:00:00Z,r4,OTHER\n"
        "E09000005,2026-02-01T00:00:00Z,\"m\nn\",OTHER\n",
        120, &g);
    s_good_around(&g);
    assert_int_equal(g.nrej, 1);
    assert_int_equal(g.rej[0].n, 1);
    assert_int_equal(g.rej[0].d[0].line, 3);
    assert_string_equal(g.rej[0].d[0].reason, "record on lines 3-5 longer than 120 bytes");
    s_free(&g);
}

static void test_file_iterator(void **state)
{
    (void)state;
    char path[] = "/tmp/test_csvin.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "type,borough,occurred_at,count\n"
                       "racist_incident,E09000001,2026-02-01T00:00:00Z,2\n"
                       "racist_incident,E09000001,2026-02-01T00:00:00Z,x\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    crr_csvin_file_t *f = NULL;
    crr_problems_t p;
    assert_int_equal(crr_csvin_file_open(path, &f, &p), 0);
    Crrmon__V1__Event *e = NULL;
    assert_int_equal(crr_csvin_file_next(f, &s_vo, &e, &p), 0);
    assert_int_equal(p.d[0].line, 2);
    assert_int_equal(e->racist_incident->count, 2);
    crr_codec_free(&e->base);
    assert_int_equal(crr_csvin_file_next(f, &s_vo, &e, &p), CRR_EREJECT);
    assert_int_equal(p.d[0].line, 3);
    assert_string_equal(p.value[0], "x");
    assert_int_equal(crr_csvin_file_next(f, &s_vo, &e, &p), CRR_CSVIN_EOF);
    assert_int_equal(crr_csvin_file_offset(f), strlen(text));
    assert_int_equal(crr_csvin_file_size(f), (int64_t)strlen(text));
    crr_csvin_file_close(&f);
    assert_null(f);
    unlink(path);
    assert_int_equal(crr_csvin_file_open(path, &f, &p), -ENOENT);
    assert_true(crr_csvin_is_csv_name("a/B.CSV"));
    assert_false(crr_csvin_is_csv_name("a.jsonl"));
}

static void test_edge_line_all(void **state)
{
    (void)state;
    const char *line = "{\"borough\":\"X\",\"occurredAt\":\"2026-02-01T00:00:00Z\","
                       "\"attendance\":{\"booked\":1,\"attended\":2}}";
    crr_problems_t p;
    Crrmon__V1__Event *e = NULL;
    assert_int_equal(crr_edge_line_all(line, strlen(line), "a.jsonl", 7, &s_vo, &e, &p),
                     CRR_EREJECT);
    assert_null(e);
    assert_int_equal(p.n, 5); /* borough, course_id, session_id, staff_group, attended */
    assert_string_equal(p.d[0].field, "borough");
    assert_string_equal(p.d[1].field, "attendance.course_id");
    assert_string_equal(p.d[4].field, "attendance.attended");
    assert_int_equal(p.d[4].line, 7);
    assert_string_equal(p.value[0], "X"); /* the values as written */
    assert_string_equal(p.value[1], "");  /* absent */
    assert_string_equal(p.value[4], "2");
    assert_string_equal(p.d[4].file, "a.jsonl");
    /* not JSON: one problem */
    assert_int_equal(crr_edge_line_all("{", 1, "a.jsonl", 8, &s_vo, &e, &p), CRR_EREJECT);
    assert_int_equal(p.n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting_bom_crlf_blank_lines),
        cmocka_unit_test(test_type_from_file_name),
        cmocka_unit_test(test_unknown_column_refuses_the_file),
        cmocka_unit_test(test_every_problem_of_a_record),
        cmocka_unit_test(test_invalid_utf8_and_extra_cells),
        cmocka_unit_test(test_nul_byte_is_a_problem),
        cmocka_unit_test(test_empty_header_only_and_open_quote),
        cmocka_unit_test(test_rejected_record_text_is_whole),
        cmocka_unit_test(test_long_line_rejects_its_whole_record),
        cmocka_unit_test(test_long_record_rejected_whole),
        cmocka_unit_test(test_file_iterator),
        cmocka_unit_test(test_edge_line_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
