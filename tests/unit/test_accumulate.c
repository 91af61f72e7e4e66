/* test_accumulate: common/accumulate, the event -> sums rules. The type index
 * (on disk in every agg, records and first-seen key) stays what the stores
 * written before the module hold; each event type reaches its family and the
 * pipeline family through the caller's callbacks, with the sums expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "accumulate.h"
#include "err.h"
#include "event_fixture.h"

#include <string.h>

/* The type names in type-index order (the on-disk numbering). */
static const char *const s_names[CRR_TYPE_COUNT + 1] = {
    NULL,         "training_feedback", "learning_assessment", "behaviour_observation",
    "attendance", "training_cost",     "staff_headcount",     "stop_search",
    "complaint",  "racist_incident",   "survey_response",     "community_engagement",
};

static void test_type_index_is_the_stored_numbering(void **state)
{
    (void)state;
    for (unsigned t = 1; t <= CRR_TYPE_COUNT; t++) {
        /* only the oneof case matters here, set to each number in turn: by hand */
        Crrmon__V1__Event e = CRRMON__V1__EVENT__INIT;
        e.body_case = (Crrmon__V1__Event__BodyCase)(t + 9); /* field numbers 10..20 */
        assert_int_equal(crr_event_type_index(&e), t);
        assert_string_equal(crr_event_type_text(t), s_names[t]);
    }
    /* every body of the Event oneof has a type index (a body added to the
     * proto without a row in accumulate's table fails here) */
    const ProtobufCMessageDescriptor *d = &crrmon__v1__event__descriptor;
    unsigned bodies = 0;
    for (unsigned i = 0; i < d->n_fields; i++)
        bodies += (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    assert_int_equal(bodies, CRR_TYPE_COUNT);
    Crrmon__V1__Event none = CRRMON__V1__EVENT__INIT; /* no body: the edge rejects it */
    assert_int_equal(crr_event_type_index(&none), 0);
    assert_null(crr_event_type_text(0));
    assert_null(crr_event_type_text(CRR_TYPE_COUNT + 1));
    assert_int_equal(crr_fam_type(CRR_FAM_TRAINER), 1);
    assert_int_equal(crr_fam_type(CRR_FAM_PIPELINE), 0);
    assert_int_equal(crr_fam_nmetrics(CRR_FAM_SURVEY), M_SV_COUNT);
    assert_int_equal(crr_fam_nmetrics(CRR_FAM_COUNT), 0);
}

/* A recording sink: one bucket per call, in call order. */
typedef struct {
    unsigned fam[8];
    uint8_t cell[8][CRR_AGG_CELL];
    int by_arrival[8];
    char name[8][32];
    double m[8][CRR_AGG_MAXM];
    size_t n;
    unsigned hc_group, hc_n, hc_in_scope, hc_calls;
} s_rec_t;

static int s_sums(void *ctx, unsigned fam, const uint8_t cell[CRR_AGG_CELL], int by_arrival,
                  const char *name, size_t len, double **m)
{
    s_rec_t *r = ctx;
    if (r->n == 8)
        return -1;
    r->fam[r->n] = fam;
    memcpy(r->cell[r->n], cell, CRR_AGG_CELL);
    r->by_arrival[r->n] = by_arrival;
    if (name)
        memcpy(r->name[r->n], name, len < 31 ? len : 31);
    *m = r->m[r->n++];
    return 0;
}

static int s_headcount(void *ctx, unsigned group, uint32_t headcount, uint32_t in_scope)
{
    s_rec_t *r = ctx;
    r->hc_group = group;
    r->hc_n = headcount;
    r->hc_in_scope = in_scope;
    r->hc_calls++;
    return 0;
}

static void test_feedback_reaches_three_buckets(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = fx_event_json(
        "{\"borough\":\"E09000022\",\"occurredAt\":\"2026-02-01T10:00:00Z\",\"trainingFeedback\":{"
        "\"courseId\":\"C1\",\"sessionId\":\"S1\",\"trainerId\":\"T-1\","
        "\"staffGroup\":\"STAFF_GROUP_ADMINISTRATIVE\",\"overall\":4,\"relevance\":4,"
        "\"trainerQuality\":5,\"purposeExplained\":3}}");
    s_rec_t r = {0};
    crr_acc_ops_t ops = {.sums = s_sums, .headcount = s_headcount, .ctx = &r};
    assert_int_equal(crr_accumulate(e, &ops), 0);
    crr_codec_free(&e->base);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.fam[0], CRR_FAM_FEEDBACK);
    assert_int_equal(r.cell[0][0], 2);
    assert_int_equal(r.by_arrival[0], 0);
    assert_true(r.m[0][M_FB_N] == 1 && r.m[0][M_FB_OVERALL2] == 16 && r.m[0][M_FB_TQ] == 5);
    assert_true(r.m[0][M_FB_RELEVANCE_POS] == 1 && r.m[0][M_FB_CI_N] == 0);
    assert_int_equal(r.fam[1], CRR_FAM_TRAINER);
    assert_string_equal(r.name[1], "T-1");
    uint64_t h = crr_hash64("T-1", 3), got = 0;
    for (int i = 0; i < 8; i++)
        got = got << 8 | r.cell[1][i];
    assert_true(got == h);
    assert_true(r.m[1][M_TR_N] == 1 && r.m[1][M_TR_TQ2] == 25);
    assert_int_equal(r.fam[2], CRR_FAM_PIPELINE);
    assert_int_equal(r.cell[2][0], 1);
    assert_int_equal(r.by_arrival[2], 1);
    assert_true(r.m[2][M_PL_N] == 1);
    assert_int_equal(r.hc_calls, 0);
}

static void test_headcount_states_the_gauge(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = fx_event_json(
        "{\"borough\":\"E09000022\",\"occurredAt\":\"2026-02-01T10:00:00Z\",\"staffHeadcount\":{"
        "\"staffGroup\":\"STAFF_GROUP_SUPERVISOR\",\"headcount\":120,\"inScope\":80}}");
    s_rec_t r = {0};
    crr_acc_ops_t ops = {.sums = s_sums, .headcount = s_headcount, .ctx = &r};
    assert_int_equal(crr_accumulate(e, &ops), 0);
    crr_codec_free(&e->base);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.fam[0], CRR_FAM_HEADCOUNT);
    assert_true(r.m[0][M_HC_HEADCOUNT] == 120 && r.m[0][M_HC_IN_SCOPE] == 80);
    assert_int_equal(r.hc_calls, 1);
    assert_int_equal(r.hc_group, 3);
    assert_int_equal(r.hc_n, 120);
    assert_int_equal(r.hc_in_scope, 80);
    assert_int_equal(r.cell[1][0], 6);
}

static void test_no_body_and_sink_error(void **state)
{
    (void)state;
    /* an Event without a body: the edge rejects it (NO_BODY), so it is built by hand */
    Crrmon__V1__Event none = CRRMON__V1__EVENT__INIT;
    s_rec_t r = {0};
    crr_acc_ops_t ops = {.sums = s_sums, .headcount = s_headcount, .ctx = &r};
    assert_int_equal(crr_accumulate(&none, &ops), CRR_EINVAL);
    assert_int_equal(r.n, 0);
    Crrmon__V1__Event *e = fx_event_json("{\"borough\":\"E09000022\",\"occurredAt\":"
                                         "\"2026-02-01T10:00:00Z\",\"racistIncident\":{}}");
    r.n = 8; /* the sink is full: its error comes back, nothing recorded */
    assert_int_equal(crr_accumulate(e, &ops), -1);
    crr_codec_free(&e->base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_index_is_the_stored_numbering),
        cmocka_unit_test(test_feedback_reaches_three_buckets),
        cmocka_unit_test(test_headcount_states_the_gauge),
        cmocka_unit_test(test_no_body_and_sink_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
