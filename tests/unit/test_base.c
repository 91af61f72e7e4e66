/* test_base: the small shared modules every binary uses — err (codes,
 * crr_strerror, diag), clock (CRRMON_NOW hook, RFC 3339 both ways, day
 * numbers), codec (bounded unpack, pack) and lmdbx (big-endian keys, env
 * open), and rejects (append, list, prune) on a real LMDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "accumulate.h"
#include "clock.h"
#include "codec.h"
#include "err.h"
#include "event_fixture.h"
#include "lmdbx.h"
#include "rejects.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(crr_strerror(0), "success");
    assert_string_equal(crr_strerror(CRR_ESPOOLFULL), "spool is full");
    assert_string_equal(crr_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
    assert_string_equal(crr_strerror(MDB_NOTFOUND), mdb_strerror(MDB_NOTFOUND));
    assert_string_equal(crr_strerror(-ENOENT), strerror(ENOENT));
}

static void test_diag(void **state)
{
    (void)state;
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "in.jsonl");
    d.line = 7;
    assert_int_equal(
        crr_diag_set(&d, 5, "training_feedback.overall", "overall is %d; must be 1-5", 0),
        CRR_EREJECT);
    char buf[256];
    assert_string_equal(crr_diag_format(&d, buf, sizeof buf),
                        "in.jsonl:7: training_feedback.overall: overall is 0; must be 1-5");
    crr_diag_clear(&d);
    crr_diag_set(&d, 0, NULL, "plain");
    assert_string_equal(crr_diag_format(&d, buf, sizeof buf), "plain");
    assert_string_equal(crr_reject_code_name(7), "too_old");
    assert_string_equal(crr_reject_code_name(99), "unspecified");
}

static void test_time_parse_format(void **state)
{
    (void)state;
    int64_t s;
    int32_t ns;
    char buf[48];
    assert_int_equal(crr_time_parse("1970-01-01T00:00:00Z", 0, &s, &ns), 0);
    assert_true(s == 0 && ns == 0);
    assert_int_equal(crr_time_parse("2026-06-15T12:00:00.5+01:00", 0, &s, &ns), 0);
    assert_string_equal(crr_time_format(s, ns, buf, sizeof buf), "2026-06-15T11:00:00.500Z");
    assert_int_equal(crr_time_parse("2024-02-29", 1, &s, &ns), 0);
    assert_string_equal(crr_time_format(s, 0, buf, sizeof buf), "2024-02-29T00:00:00Z");
    assert_int_equal(crr_time_parse("2023-02-29", 1, &s, &ns), CRR_EPARSE);
    assert_int_equal(crr_time_parse("2024-02-28", 0, &s, &ns), CRR_EPARSE);
    assert_int_equal(crr_time_parse("2024-02-28T24:00:00Z", 0, &s, &ns), CRR_EPARSE);
    assert_int_equal(crr_time_parse("2024-02-28T10:00:00", 0, &s, &ns), CRR_EPARSE);
    assert_int_equal(crr_time_parse("1969-12-31T23:59:59.000000001Z", 0, &s, &ns), 0);
    assert_true(s == -1 && ns == 1);
    assert_string_equal(crr_time_format(s, ns, buf, sizeof buf), "1969-12-31T23:59:59.000000001Z");
    assert_true(crr_day_of(-1) == -1);
    assert_true(crr_day_of(86399) == 0);
    assert_true(crr_day_of(86400) == 1);
}

static void test_clock_hook(void **state)
{
    (void)state;
    setenv("CRRMON_NOW", "2026-03-01T12:00:00Z", 1);
    crr_clock_reset();
    assert_true(crr_clock_now_sec() == 1772366400);
    assert_true(crr_clock_now_sec() == 1772366400);
    setenv("CRRMON_NOW", "2026-03-01T12:00:00Z+", 1);
    crr_clock_reset();
    int64_t t = crr_clock_now_sec();
    assert_true(t >= 1772366400 && t <= 1772366402);
    unsetenv("CRRMON_NOW");
    crr_clock_reset();
    assert_true(crr_clock_now_sec() > 1772366400 - 86400 * 365 * 10);
    uint64_t a = crr_clock_mono_ms(), b = crr_clock_mono_ms();
    assert_true(b >= a);
}

static void test_codec(void **state)
{
    (void)state;
    Crrmon__V1__Ack ack = CRRMON__V1__ACK__INIT;
    ack.source_id = "src";
    ack.durable_seq = 42;
    uint8_t *buf;
    size_t len;
    assert_int_equal(crr_codec_pack(&ack.base, &buf, &len), 0);
    Crrmon__V1__Ack *back;
    assert_int_equal(crr_codec_unpack_ack(buf, len, 1024, &back), 0);
    assert_string_equal(back->source_id, "src");
    assert_true(back->durable_seq == 42);
    crr_codec_free(&back->base);
    assert_int_equal(crr_codec_unpack_ack(buf, len, len - 1, &back), CRR_ETOOBIG);
    assert_null(back);
    uint8_t small[4];
    assert_int_equal(crr_codec_pack_into(&ack.base, small, sizeof small), CRR_ETOOBIG);
    free(buf);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    Crrmon__V1__Batch *b;
    assert_int_equal(crr_codec_unpack_batch(garbage, sizeof garbage, 1024, &b), CRR_EPARSE);
    /* a length prefix promising far more than the frame: parse error, no huge allocation */
    const uint8_t lie[] = {0x0a, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(crr_codec_unpack_batch(lie, sizeof lie, 1024, &b), CRR_EPARSE);
}

/* SQLite-style OOM loop: unpack a real batch with every allocation budget
 * from 0 upwards; each attempt either fails cleanly with CRR_ETOOBIG (ASan
 * checks nothing leaks) or succeeds, and once it succeeds every larger
 * budget does too, with the same content. */
static void test_codec_oom_loop(void **state)
{
    (void)state;
    Crrmon__V1__Event *evp[3];
    for (int i = 0; i < 3; i++) {
        evp[i] =
            fx_event_json("{\"borough\":\"E09000022\",\"occurredAt\":\"2026-03-01T12:00:00Z\","
                          "\"recordId\":\"rec\",\"stopSearch\":{\"ethnicity\":\"ETHNICITY_BLACK\","
                          "\"outcome\":\"OUTCOME_ARREST\",\"sdeCode\":\"B1\"}}");
        evp[i]->seq = (uint64_t)i + 1;
    }
    Crrmon__V1__Batch b = CRRMON__V1__BATCH__INIT;
    b.source_id = "oom";
    b.epoch = 9;
    b.n_events = 3;
    b.events = evp;
    uint8_t *buf;
    size_t len;
    assert_int_equal(crr_codec_pack(&b.base, &buf, &len), 0);
    for (int i = 0; i < 3; i++)
        crr_codec_free(&evp[i]->base);
    int succeeded = 0;
    for (size_t budget = 0; budget < 16384; budget += 8) {
        ProtobufCMessage *m = NULL;
        int rc = crr_codec_unpack_budget(&crrmon__v1__batch__descriptor, buf, len, len, budget, &m);
        if (rc == 0) {
            Crrmon__V1__Batch *got = (Crrmon__V1__Batch *)m;
            assert_int_equal(got->n_events, 3);
            assert_string_equal(got->events[2]->stop_search->sde_code, "B1");
            assert_true(got->events[2]->seq == 3);
            crr_codec_free(m);
            succeeded = 1;
        } else {
            assert_int_equal(rc, CRR_ETOOBIG);
            assert_null(m);
            assert_false(succeeded); /* no budget fails once a smaller one worked */
        }
    }
    assert_true(succeeded);
    free(buf);
}

/* Walking a packed Batch: its events counted and hashed as they are in the
 * frame (for a protobuf-c frame, the hash of each event packed alone), an
 * arena's chunks reused after a reset, and a frame that does not walk to
 * the expected count gives no hashes. */
static void test_codec_batch_walk(void **state)
{
    (void)state;
    Crrmon__V1__Event *evp[3];
    Crrmon__V1__Batch b = CRRMON__V1__BATCH__INIT;
    b.source_id = "src";
    b.epoch = 3;
    b.spool_depth = 9;
    b.n_events = 3;
    b.events = evp;
    for (int i = 0; i < 3; i++) {
        evp[i] = fx_event("{\"borough\":\"E0900000%d\",\"occurredAt\":\"2026-03-01T12:00:00Z\","
                          "\"racistIncident\":{}}",
                          i + 1);
        evp[i]->seq = (uint64_t)i + 1;
    }
    uint8_t *buf, *one;
    size_t len, olen;
    assert_int_equal(crr_codec_pack(&b.base, &buf, &len), 0);
    assert_int_equal(crr_codec_batch_count_events(buf, len, 100), 3);
    assert_int_equal(crr_codec_batch_count_events(buf, len, 1), 2); /* limit + 1 */
    crr_codec_arena_t *a = NULL;
    assert_int_equal(crr_codec_arena_new(&a), 0);
    for (int round = 0; round < 2; round++) {
        uint64_t *h;
        assert_int_equal(crr_codec_batch_event_hashes(a, buf, len, 3, &h), 0);
        assert_non_null(h);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(crr_codec_pack(&evp[i]->base, &one, &olen), 0);
            assert_true(h[i] == crr_hash64((const char *)one, olen));
            free(one);
        }
        assert_true(h[0] != h[1] && h[1] != h[2]);
        assert_int_equal(crr_codec_batch_event_hashes(a, buf, len, 2, &h), 0);
        assert_null(h);
        assert_int_equal(crr_codec_batch_event_hashes(a, buf, len - 1, 3, &h), 0);
        assert_null(h); /* a truncated frame does not walk */
        crr_codec_arena_reset(a);
    }
    crr_codec_arena_destroy(&a);
    for (int i = 0; i < 3; i++)
        crr_codec_free(&evp[i]->base);
    free(buf);
}

/* The aggregator's group arena: many batches unpacked, read, released at once
 * and the arena reused; the same budget and errors as the heap path. */
static void test_codec_arena(void **state)
{
    (void)state;
    Crrmon__V1__Event *evp[1];
    Crrmon__V1__Batch b = CRRMON__V1__BATCH__INIT;
    b.n_events = 1;
    b.events = evp;
    crr_codec_arena_t *a = NULL;
    assert_int_equal(crr_codec_arena_new(&a), 0);
    char id[32];
    for (int round = 0; round < 3; round++) {
        Crrmon__V1__Batch *got[200];
        for (int i = 0; i < 200; i++) {
            snprintf(id, sizeof id, "src-%d", i);
            b.source_id = id;
            b.epoch = (uint64_t)i;
            evp[0] =
                fx_event("{\"borough\":\"E090000%02d\",\"occurredAt\":\"2026-03-01T12:00:00Z\","
                         "\"racistIncident\":{}}",
                         i % 33 + 1);
            evp[0]->seq = (uint64_t)i + 1;
            uint8_t *buf;
            size_t len;
            assert_int_equal(crr_codec_pack(&b.base, &buf, &len), 0);
            crr_codec_free(&evp[0]->base);
            assert_int_equal(crr_codec_unpack_batch_arena(a, buf, len, 1 << 20, &got[i]), 0);
            free(buf);
        }
        for (int i = 0; i < 200; i++) { /* all still valid until the reset */
            snprintf(id, sizeof id, "src-%d", i);
            assert_string_equal(got[i]->source_id, id);
            assert_true(got[i]->events[0]->seq == (uint64_t)i + 1);
        }
        crr_codec_arena_reset(a);
    }
    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    Crrmon__V1__Batch *m;
    assert_int_equal(crr_codec_unpack_batch_arena(a, garbage, sizeof garbage, 64, &m), CRR_EPARSE);
    assert_null(m);
    assert_int_equal(crr_codec_unpack_batch_arena(a, garbage, sizeof garbage, 2, &m), CRR_ETOOBIG);
    crr_codec_arena_destroy(&a);
    assert_null(a);
    crr_codec_arena_destroy(&a);
}

static void test_lmdbx_and_rejects(void **state)
{
    (void)state;
    uint8_t k[8];
    crr_be64_put(k, 0x0102030405060708ull);
    assert_int_equal(k[0], 1);
    assert_true(crr_be64_get(k) == 0x0102030405060708ull);
    crr_be32_put(k, 0xa0b0c0d0u);
    assert_int_equal(k[0], 0xa0);
    assert_true(crr_be32_get(k) == 0xa0b0c0d0u);

    char dir[] = "/tmp/crr-base-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char envdir[300];
    snprintf(envdir, sizeof envdir, "%s/a/b", dir);
    MDB_env *env;
    assert_int_equal(crr_lmdb_open(envdir, 1 << 20, 4, 0, &env), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(crr_lmdb_dbi(txn, CRR_REJECTS_DB, 0, &dbi), 0);
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "x.jsonl");
    d.line = 3;
    crr_diag_set(&d, 3, "borough", "unknown");
    crr_reject_t r = {
        .at_sec = 1000, .source_id = "s", .epoch = 9, .seq = 4, .diag = &d, .raw = "{}"};
    assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    r.at_sec = 5000;
    assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_true(crr_rejects_count(txn, dbi) == 2);
    uint64_t del = 0;
    assert_int_equal(crr_rejects_prune(txn, dbi, 2000, &del), 0);
    assert_true(del == 1);
    assert_true(crr_rejects_count(txn, dbi) == 1);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(crr_lmdb_open(envdir, 1 << 20, 4, MDB_RDONLY, &env), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(crr_lmdb_dbi(txn, CRR_REJECTS_DB, 0, &dbi), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Collects stored reject texts (parsed) for test_rejects_any_bytes. */
static int s_collect(const char *json, size_t len, void *ud)
{
    json_t **arr = ud;
    json_error_t e;
    json_t *o = json_loadb(json, len, 0, &e);
    assert_non_null(o); /* every stored record is valid JSON */
    json_array_append_new(*arr, o);
    return 0;
}

/* Poison 1: raw text that is not valid UTF-8, or cut inside a character,
 * used to fail json_dumps and with it the owner's whole transaction. */
static void test_rejects_any_bytes(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr-base-XXXXXX";
    assert_non_null(mkdtemp(dir));
    MDB_env *env;
    assert_int_equal(crr_lmdb_open(dir, 8 << 20, 4, 0, &env), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(crr_lmdb_dbi(txn, CRR_REJECTS_DB, 0, &dbi), 0);
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "bad\xff.jsonl");
    crr_diag_set(&d, 1, "x", "bad byte \xff here");
    /* a stray 0xff */
    crr_reject_t r = {.at_sec = 1000, .source_id = "s\xfe", .diag = &d, .raw = "{\"a\":\"\xff\"}"};
    assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    /* 199 ASCII bytes then "é" split by a cut at 200 (as the collector cuts lines) */
    char cut[201];
    memset(cut, 'a', 199);
    cut[199] = '\xc3';
    cut[200] = '\0';
    r.raw = cut;
    assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    /* valid UTF-8 over RAW_MAX: "é" * 3000 = 6000 bytes, 4096 is even but start at 1 */
    size_t n = 1 + 2 * 3000;
    char *big = malloc(n + 1);
    big[0] = 'x';
    for (size_t i = 1; i < n; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[n] = '\0';
    r.raw = big;
    assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    free(big);
    assert_int_equal(mdb_txn_commit(txn), 0);

    json_t *got = json_array();
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(crr_rejects_foreach(txn, dbi, 0, s_collect, &got), 0);
    mdb_txn_abort(txn);
    assert_int_equal(json_array_size(got), 3);
    json_t *o = json_array_get(got, 0);
    assert_string_equal(json_string_value(json_object_get(o, "raw")), "{\"a\":\"\xef\xbf\xbd\"}");
    assert_string_equal(json_string_value(json_object_get(o, "source")), "s\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "file")), "bad\xef\xbf\xbd.jsonl");
    assert_string_equal(json_string_value(json_object_get(o, "reason")),
                        "bad byte \xef\xbf\xbd here");
    /* the cut half character: replaced, whole text kept */
    const char *raw = json_string_value(json_object_get(json_array_get(got, 1), "raw"));
    assert_int_equal(strlen(raw), 199 + 3);
    /* 4096 bytes cut at 4095: "x" + 2047 whole "é" (4095 bytes), none split */
    raw = json_string_value(json_object_get(json_array_get(got, 2), "raw"));
    assert_int_equal(strlen(raw), 4095);
    assert_memory_equal(raw + 4093, "\xc3\xa9", 2);
    json_decref(got);
    mdb_env_close(env);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_diag),
        cmocka_unit_test(test_time_parse_format),
        cmocka_unit_test(test_clock_hook),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_oom_loop),
        cmocka_unit_test(test_codec_arena),
        cmocka_unit_test(test_codec_batch_walk),
        cmocka_unit_test(test_lmdbx_and_rejects),
        cmocka_unit_test(test_rejects_any_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
