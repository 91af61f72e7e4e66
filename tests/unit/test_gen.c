/* test_gen: the generator (tools/gen) is deterministic for a seed, every
 * event it makes validates with now = end_sec, every type and borough
 * appears, options restrict what is generated, and events pack and free
 * cleanly (crr_codec_free). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "boroughs.h"
#include "codec.h"
#include "gen.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END 1767225600LL /* 2026-01-01T00:00:00Z */
#define START (END - 30 * 86400LL)

static crr_gen_t *s_new(uint64_t seed, const char *types)
{
    crr_gen_opts_t o = {.seed = seed, .start_sec = START, .end_sec = END, .types = types};
    crr_gen_t *g = NULL;
    assert_int_equal(crr_gen_new(&o, &g), 0);
    assert_non_null(g);
    return g;
}

/* Packs the next event of g (for byte comparison) and frees it. */
static uint8_t *s_next_packed(crr_gen_t *g, size_t *len)
{
    Crrmon__V1__Event *e = NULL;
    assert_int_equal(crr_gen_next(g, &e), 0);
    uint8_t *buf = NULL;
    assert_int_equal(crr_codec_pack(&e->base, &buf, len), 0);
    crr_codec_free(&e->base);
    return buf;
}

/* The same seed gives byte-identical events; another seed does not. */
static void test_deterministic(void **state)
{
    (void)state;
    crr_gen_t *a = s_new(42, NULL), *b = s_new(42, NULL), *c = s_new(43, NULL);
    int differ = 0;
    for (int i = 0; i < 2000; i++) {
        size_t la, lb, lc;
        uint8_t *pa = s_next_packed(a, &la), *pb = s_next_packed(b, &lb);
        uint8_t *pc = s_next_packed(c, &lc);
        assert_int_equal(la, lb);
        assert_memory_equal(pa, pb, la);
        differ |= la != lc || memcmp(pa, pc, la) != 0;
        free(pa);
        free(pb);
        free(pc);
    }
    assert_true(differ);
    assert_int_equal(crr_gen_count(a), 2000);
    crr_gen_destroy(&a);
    crr_gen_destroy(&b);
    crr_gen_destroy(&c);
    assert_null(a);
    crr_gen_destroy(&a); /* idempotent */
    crr_gen_destroy(NULL);
}

/* 100k events all validate (now = end), in range, unique record ids; every
 * type and every borough appears. */
static void test_valid_and_complete(void **state)
{
    (void)state;
    crr_gen_t *g = s_new(7, NULL);
    crr_validate_opts_t vo = {.now_sec = END, .future_slack_sec = 0, .max_age_days = 31};
    int types[32] = {0}, boroughs[CRR_BOROUGHS] = {0};
    for (int i = 1; i <= 100000; i++) {
        Crrmon__V1__Event *e = NULL;
        assert_int_equal(crr_gen_next(g, &e), 0);
        crr_diag_t d;
        crr_diag_clear(&d);
        if (crr_validate_event(e, &vo, &d) != 0)
            fail_msg("event %d invalid: %s: %s", i, d.field, d.reason);
        assert_true(e->occurred_at->seconds >= START && e->occurred_at->seconds < END);
        char want[64];
        snprintf(want, sizeof want, "7-%d", i);
        assert_string_equal(e->record_id, want);
        types[e->body_case - 10]++;
        boroughs[crr_borough_index(e->borough)]++;
        crr_codec_free(&e->base);
    }
    for (int t = 0; t < 11; t++)
        if (!types[t])
            fail_msg("body case %d never generated", t + 10);
    for (int b = 0; b < CRR_BOROUGHS; b++)
        assert_true(boroughs[b] > 0);
    /* the mix is plausible: stop and search the commonest, headcounts rare */
    assert_true(types[CRRMON__V1__EVENT__BODY_STOP_SEARCH - 10] >
                types[CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK - 10]);
    assert_true(types[CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT - 10] < 3000);
    crr_gen_destroy(&g);
}

/* --types and --borough restrict the stream. */
static void test_options(void **state)
{
    (void)state;
    const char *const bs[] = {"E09000022", "E09000001", "E09000022"};
    crr_gen_opts_t o = {.seed = 3,
                        .boroughs = bs,
                        .nboroughs = 3,
                        .start_sec = START,
                        .end_sec = START + 1,
                        .types = "stop_search, complaint"};
    crr_gen_t *g = NULL;
    assert_int_equal(crr_gen_new(&o, &g), 0);
    int seen[2] = {0}, ss = 0, co = 0;
    for (int i = 0; i < 1000; i++) {
        Crrmon__V1__Event *e = NULL;
        assert_int_equal(crr_gen_next(g, &e), 0);
        assert_int_equal(e->occurred_at->seconds, START);
        if (!strcmp(e->borough, "E09000022"))
            seen[0]++;
        else if (!strcmp(e->borough, "E09000001"))
            seen[1]++;
        else
            fail_msg("borough %s not asked for", e->borough);
        if (e->body_case == CRRMON__V1__EVENT__BODY_STOP_SEARCH)
            ss++;
        else if (e->body_case == CRRMON__V1__EVENT__BODY_COMPLAINT)
            co++;
        else
            fail_msg("type %d not asked for", e->body_case);
        crr_codec_free(&e->base);
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && ss > 0 && co > 0);
    crr_gen_destroy(&g);

    /* each single type works alone */
    static const char *const names[] = {
        "training_feedback", "learning_assessment", "behaviour_observation", "attendance",
        "training_cost",     "staff_headcount",     "stop_search",           "complaint",
        "racist_incident",   "survey_response",     "community_engagement",
    };
    for (int t = 0; t < 11; t++) {
        g = s_new(9, names[t]);
        for (int i = 0; i < 200; i++) {
            Crrmon__V1__Event *e = NULL;
            assert_int_equal(crr_gen_next(g, &e), 0);
            assert_string_equal(crr_event_type_name(e), names[t]);
            crr_validate_opts_t vo = {.now_sec = END};
            assert_int_equal(crr_validate_event(e, &vo, NULL), 0);
            crr_codec_free(&e->base);
        }
        crr_gen_destroy(&g);
    }
}

/* Bad options are refused with CRR_EINVAL and *out NULL. */
static void test_bad_options(void **state)
{
    (void)state;
    crr_gen_t *g = (crr_gen_t *)&g;
    crr_gen_opts_t o = {.seed = 1, .start_sec = END, .end_sec = END};
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    assert_null(g);
    o.start_sec = START;
    o.types = "stop_search,nope";
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    o.types = "borough"; /* a field of Event, but not a body */
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    o.types = ",";
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    o.types = NULL;
    const char *const bad[] = {"E09000034"};
    o.boroughs = bad;
    o.nboroughs = 1;
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    o.nboroughs = 0;
    assert_int_equal(crr_gen_new(&o, &g), CRR_EINVAL);
    assert_null(g);
    o.boroughs = NULL;
    o.types = "";
    assert_int_equal(crr_gen_new(&o, &g), 0);
    crr_gen_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_valid_and_complete),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
