/* api: the JSON read API, GET /readyz and the /metrics series of sources,
 * boroughs, Ack latency and indicator values (the endpoints are listed in
 * api.h). It owns no socket and writes nothing: each handler reads the store
 * in its own read transaction on the calling libmicrohttpd thread (MVCC: the
 * main thread's group commits go on beside it) and answers. It does not own
 * the routing of other endpoints (http.c), the live feed or the stream.
 *
 * The indicator rows are the engine's (state/indicators.h) with the
 * reference data the snapshots use: a copy of a->ref kept here under `mu`,
 * replaced by the main thread on reload (crr_api_set_ref), so a request
 * never reads a->ref while a reload writes it. JSON bodies are written as
 * text (open_memstream) so that each protobuf row is crr_json_dumps' exact
 * shortest-real form.
 *
 * /metrics' indicator values (every total row now, the costly part of a
 * scrape) are computed at most once per [http] metrics_cache: the text is
 * kept under `mmu` and served again until the period ends (new reference
 * data makes it stale), and concurrent scrapes of a stale text wait for one
 * computation. crrmon_metrics_indicator_computations_total counts them. */
#include "api.h"
#include "reply.h"

#include "boroughs.h"
#include "clock.h"
#include "codec.h"
#include "indicators.h"
#include "json.h"
#include "series.h"

#include "accumulate.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_REJECTS_LIMIT 100      /* /api/v1/rejects without ?limit= */
#define S_REJECTS_LIMIT_MAX 1000 /* the most ?limit= may ask for */
#define S_ARG_MAX 64             /* the longest query value accepted */

struct crr_api {
    pthread_mutex_t mu;       /* guards ref and have_ref */
    crr_refdata_t ref;        /* a copy of a->ref */
    int have_ref;             /* a->have_ref */
    pthread_mutex_t mmu;      /* guards the fields below; held while they are computed */
    int64_t mcache_ms;        /* [http] metrics_cache (0: compute on every scrape) */
    char *mtext;              /* the crrmon_indicator_value samples, NULL = none kept */
    uint64_t mtext_ms;        /* crr_clock_mono_ms when mtext was computed */
    uint64_t mcomputed;       /* computations of mtext since the start */
    uint64_t mtext_gen;       /* ref_gen when mtext was computed */
    _Atomic uint64_t ref_gen; /* bumped by crr_api_set_ref (never waits for mmu) */
};

/* Upper bounds (seconds) of crrmon_ack_latency_seconds' buckets; +Inf last. */
static const double s_ack_le[CRR_AGG_ACK_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

int crr_api_init(crr_aggregator_t *a)
{
    if (a->api)
        return 0;
    crr_api_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->mmu, NULL);
    p->mcache_ms = a->cfg.http_metrics_cache;
    p->ref = a->ref;
    p->have_ref = a->have_ref;
    a->api = p;
    return 0;
}

void crr_api_free(crr_aggregator_t *a)
{
    if (!a->api)
        return;
    pthread_mutex_destroy(&a->api->mu);
    pthread_mutex_destroy(&a->api->mmu);
    free(a->api->mtext);
    free(a->api);
    a->api = NULL;
}

void crr_api_set_ref(crr_aggregator_t *a)
{
    crr_api_t *p = a->api;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->ref = a->ref;
    p->have_ref = a->have_ref;
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_add(&p->ref_gen, 1); /* /metrics' indicator values are computed again */
}

/* Copies the reference data into *ref; returns ref, or NULL when none. */
static const crr_refdata_t *s_ref(crr_aggregator_t *a, crr_refdata_t *ref)
{
    crr_api_t *p = a->api;
    if (!p)
        return NULL;
    pthread_mutex_lock(&p->mu);
    int have = p->have_ref;
    if (have)
        *ref = p->ref;
    pthread_mutex_unlock(&p->mu);
    return have ? ref : NULL;
}

void crr_api_ack_observe(crr_aggregator_t *a, uint64_t ns)
{
    size_t i = 0;
    while (i < CRR_AGG_ACK_BUCKETS - 1 && (double)ns / 1e9 > s_ack_le[i])
        i++;
    atomic_fetch_add_explicit(&a->stats.ack_latency_le[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->stats.ack_latency_sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->stats.ack_latency_count, 1, memory_order_relaxed);
}

/* The event of batch b under seq (events are consecutive; checked), or NULL. */
static const Crrmon__V1__Event *s_event_of(const Crrmon__V1__Batch *b, uint64_t seq)
{
    if (!b->n_events)
        return NULL;
    uint64_t first = b->events[0]->seq;
    if (seq >= first && seq - first < b->n_events && b->events[seq - first]->seq == seq)
        return b->events[seq - first];
    for (size_t i = 0; i < b->n_events; i++)
        if (b->events[i]->seq == seq)
            return b->events[i];
    return NULL;
}

void crr_api_count_rejects(crr_aggregator_t *a, const crr_store_job_t *job)
{
    const Crrmon__V1__Batch *b = job->batch;
    if (!b || !b->n_events || job->n_rejected == job->n_rereported)
        return;
    /* resent events (their rejections listed again) are the batch's first n_resent */
    uint64_t fresh_from = b->events[0]->seq + job->n_resent;
    for (size_t i = 0; i < job->n_rejected; i++) {
        const Crrmon__V1__Rejection *r = job->rejected[i];
        if (r->seq < fresh_from)
            continue;
        const Crrmon__V1__Event *e = s_event_of(b, r->seq);
        int idx = e ? crr_borough_index(e->borough) : -1;
        if (idx >= 0 && idx < CRR_AGG_BOROUGHS)
            atomic_fetch_add_explicit(&a->stats.rejected_by_borough[idx], 1, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------ replies */

/* 503 for a store that cannot be read (rc an LMDB or crr code). */
static enum MHD_Result s_store_error(struct MHD_Connection *c, int rc)
{
    if (rc == -ENOMEM)
        return crr_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return crr_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the store: %s",
                           crr_strerror(rc));
}

/* A text buffer for a JSON body. */
typedef struct s_buf {
    char *text;
    size_t len;
    FILE *f;
} s_buf_t;

static int s_buf_open(s_buf_t *b)
{
    b->text = NULL;
    b->len = 0;
    b->f = open_memstream(&b->text, &b->len);
    return b->f ? 0 : -ENOMEM;
}

/* Closes b; returns its text (malloc'd) or NULL when a write failed. */
static char *s_buf_close(s_buf_t *b, int ok)
{
    if (fclose(b->f) != 0 || !ok) {
        free(b->text);
        return NULL;
    }
    return b->text;
}

/* Writes s as a JSON string (jansson's escaping). */
static void s_put_str(FILE *f, const char *s)
{
    json_t *j = json_string(s ? s : "");
    char *t = crr_json_dump_checked(j, JSON_ENCODE_ANY);
    fputs(t ? t : "\"\"", f);
    free(t);
    json_decref(j);
}

/* The shortest text of v that reads back as the same double (finite v), a
 * whole number without an exponent. */
static const char *s_real(double v, char *out, size_t len)
{
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) { /* whole: 230, never 2.3e+02 */
        snprintf(out, len, "%" PRId64, (int64_t)v);
        return out;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(out, len, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

static void s_put_time(FILE *f, int64_t sec)
{
    char when[40];
    fprintf(f, "\"%s\"", crr_time_format(sec, 0, when, sizeof when));
}

/* ------------------------------------------------------------ parameters */

/* The query's parameters: every one must be among allowed (NULL-terminated). */
typedef struct s_args {
    const char *const *allowed;
    const char *bad; /* the first unknown one (borrowed from MHD), or NULL */
} s_args_t;

static enum MHD_Result s_arg_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    s_args_t *x = cls;
    (void)kind;
    (void)value;
    for (const char *const *k = x->allowed; *k; k++)
        if (strcmp(*k, key) == 0)
            return MHD_YES;
    x->bad = key;
    return MHD_NO;
}

/* 1 when every query parameter is allowed; else answers 400 into *ret. */
static int s_args_ok(struct MHD_Connection *c, const char *const *allowed, enum MHD_Result *ret)
{
    s_args_t x = {allowed, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, s_arg_check, &x);
    if (!x.bad)
        return 1;
    char list[256] = "";
    for (const char *const *k = allowed; *k; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k == allowed ? "" : ", ",
                 *k);
    *ret = crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "unknown parameter '%.64s' (this endpoint takes: %s)", x.bad,
                           *list ? list : "none");
    return 0;
}

static const char *s_arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* Parses a whole decimal number in [lo, hi]. 0 or -1. */
static int s_number(const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!text || !*text || strlen(text) > 20 || strspn(text, "0123456789") != strlen(text))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A borough parameter: a GSS code or LONDON. 0 or -1. */
static int s_borough_ok(const char *b)
{
    return b && (strcmp(b, "LONDON") == 0 || crr_borough_index(b) >= 0) ? 0 : -1;
}

/* An indicator parameter: a catalogue name. 0 or -1. */
static int s_indicator_ok(const char *name)
{
    size_t n;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(cat[i].name, name) == 0)
            return 0;
    return -1;
}

/* ?as_of= (absent = now): a date or an RFC 3339 instant the store can serve. */
static int s_as_of(crr_aggregator_t *a, struct MHD_Connection *c, int64_t now, int64_t *sec,
                   enum MHD_Result *ret)
{
    const char *text = s_arg(c, "as_of");
    int is_date = 0;
    char msg[512];
    *sec = now;
    if (!text)
        return 0;
    if (strlen(text) > S_ARG_MAX || crr_as_of_parse(text, sec, &is_date) != 0) {
        *ret = crr_reply_error(
            c, MHD_HTTP_BAD_REQUEST,
            "as_of needs a date (2026-03-01) or an RFC 3339 instant, not '%.64s'", text);
        return -1;
    }
    if (crr_as_of_check(a->store, *sec, is_date, now, msg, sizeof msg) != 0) {
        *ret = crr_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ /api/v1/indicators */

/* The live feed's sequence of the last message made (feed.c's
 * crr_feed_seq; 0 before the first). Read BEFORE
 * the rows' read transaction begins, so the rows reflect at least every
 * update up to it: a client applies the stream's updates above it (each
 * carries absolute values, so one already reflected does no harm). */
static uint64_t s_feed_seq(crr_aggregator_t *a)
{
    return crr_feed_seq(a);
}

static enum MHD_Result s_indicators(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"borough", "indicator", "window", "as_of", NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    const char *borough = s_arg(c, "borough"), *indicator = s_arg(c, "indicator");
    const char *wtext = s_arg(c, "window");
    if (borough && s_borough_ok(borough))
        return crr_reply_error(
            c, MHD_HTTP_BAD_REQUEST,
            "borough needs a GSS code (E09000001..E09000033) or LONDON, not '%.64s'", borough);
    if (indicator && s_indicator_ok(indicator))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "unknown indicator '%.64s' (`crrmon indicators` lists them)",
                               indicator);
    size_t nw;
    const unsigned *windows = crr_store_windows(a->store, &nw);
    unsigned window = 0;
    if (wtext) {
        uint64_t w = 0;
        size_t i = 0;
        if (s_number(wtext, 1, 3650, &w) == 0)
            for (; i < nw && windows[i] != w; i++)
                ;
        if (!w || i == nw)
            return crr_reply_error(
                c, MHD_HTTP_BAD_REQUEST,
                "window needs one of the configured windows in days, not '%.64s'", wtext);
        window = (unsigned)w;
    }
    int64_t as_of;
    if (s_as_of(a, c, crr_clock_now_sec(), &as_of, &ret))
        return ret;
    crr_refdata_t ref;
    uint64_t seq = s_feed_seq(a);
    crr_query_t q = {.as_of_sec = as_of,
                     .windows = window ? &window : NULL,
                     .nwindows = window ? 1 : 0,
                     .borough = borough,
                     .indicator = indicator,
                     .ref = s_ref(a, &ref)};
    Crrmon__V1__IndicatorValue **rows = NULL;
    size_t n = 0;
    int rc = crr_indicators_compute(a->store, &q, &rows, &n);
    if (rc)
        return s_store_error(c, rc);
    s_buf_t b;
    if (s_buf_open(&b)) {
        crr_indicators_free(&rows, n);
        return crr_reply_text(c, 0, NULL, NULL);
    }
    int ok = 1;
    fputs("{\"asOf\":", b.f);
    s_put_time(b.f, as_of);
    fprintf(b.f, ",\"seq\":\"%" PRIu64 "\",\"runId\":\"%" PRIu64 "\",\"values\":[", seq,
            a->feed_run);
    for (size_t i = 0; i < n && ok; i++) {
        char *row = crr_json_dumps(&rows[i]->base, 0);
        ok = row != NULL;
        fprintf(b.f, "%s%s", i ? "," : "", row ? row : "");
        free(row);
    }
    fputs("]}", b.f);
    crr_indicators_free(&rows, n);
    return crr_reply_text(c, MHD_HTTP_OK, s_buf_close(&b, ok), "application/json");
}

/* ------------------------------------------------------------ /api/v1/boroughs */

static int s_sum_events(void *ud, int64_t day, uint64_t cell, const double *m, unsigned nm)
{
    (void)day;
    (void)cell;
    if (nm > 0)
        *(double *)ud += m[M_PL_N];
    return 0;
}

static enum MHD_Result s_boroughs(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    int64_t today = crr_day_of(crr_clock_now_sec());
    crr_store_read_t *r = NULL;
    int rc = crr_store_read_begin(a->store, &r);
    if (rc)
        return s_store_error(c, rc);
    json_t *list = json_array();
    for (int i = 0; i < CRR_AGG_BOROUGHS && list && rc == 0; i++) {
        char n[32], rj[32], when[40];
        int64_t last = 0;
        double today_n = 0;
        json_t *o =
            json_pack("{s:s, s:s}", "code", crr_borough_code(i), "name", crr_borough_name(i));
        int lrc = crr_store_read_last_arrival(r, (unsigned)i, &last);
        if (lrc == 0 && o)
            json_object_set_new(o, "lastEvent",
                                json_string(crr_time_format(last, 0, when, sizeof when)));
        else if (lrc != MDB_NOTFOUND)
            rc = lrc;
        if (rc == 0)
            rc = crr_store_read_buckets(r, (unsigned)i, CRR_FAM_PIPELINE, today, today,
                                        s_sum_events, &today_n);
        snprintf(n, sizeof n, "%" PRIu64, (uint64_t)today_n);
        snprintf(
            rj, sizeof rj, "%" PRIu64,
            (uint64_t)atomic_load_explicit(&a->stats.rejected_by_borough[i], memory_order_relaxed));
        json_object_set_new(o, "eventsLastDay", json_string(n));
        json_object_set_new(o, "rejects", json_string(rj));
        if (!o || json_array_append_new(list, o))
            rc = -ENOMEM;
    }
    crr_store_read_end(&r);
    if (rc) {
        json_decref(list);
        return s_store_error(c, rc);
    }
    return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "boroughs", list));
}

/* ------------------------------------------------------------ /api/v1/series */

static enum MHD_Result s_series(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"indicator", "borough", NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    const char *indicator = s_arg(c, "indicator"), *borough = s_arg(c, "borough");
    if (!borough)
        borough = "LONDON";
    if (!indicator)
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST, "indicator is required (?indicator=NAME)");
    if (s_indicator_ok(indicator))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "unknown indicator '%.64s' (`crrmon indicators` lists them)",
                               indicator);
    if (s_borough_ok(borough))
        return crr_reply_error(
            c, MHD_HTTP_BAD_REQUEST,
            "borough needs a GSS code (E09000001..E09000033) or LONDON, not '%.64s'", borough);
    crr_refdata_t ref;
    crr_series_month_t m[CRR_SERIES_MONTHS];
    int rc =
        crr_series_monthly(a->store, s_ref(a, &ref), indicator, borough, crr_clock_now_sec(), m);
    if (rc)
        return s_store_error(c, rc);
    s_buf_t b;
    if (s_buf_open(&b))
        return crr_reply_text(c, 0, NULL, NULL);
    fputs("{\"indicator\":", b.f);
    s_put_str(b.f, indicator);
    fputs(",\"borough\":", b.f);
    s_put_str(b.f, borough);
    fputs(",\"months\":[", b.f);
    for (int i = 0; i < CRR_SERIES_MONTHS; i++) {
        fprintf(b.f, "%s{\"month\":\"%04d-%02d\"", i ? "," : "", m[i].year, m[i].month);
        char num[40];
        if (m[i].have_value)
            fprintf(b.f, ",\"value\":%s", s_real(m[i].value, num, sizeof num));
        fprintf(b.f, ",\"n\":\"%" PRIu64 "\"}", m[i].n);
    }
    fputs("]}", b.f);
    return crr_reply_text(c, MHD_HTTP_OK, s_buf_close(&b, 1), "application/json");
}

/* ------------------------------------------------------------ /api/v1/sources */

static int s_source_json(const crr_source_info_t *si, void *ud)
{
    json_t *list = ud;
    char when[40], u[5][24];
    snprintf(u[0], sizeof u[0], "%" PRIu64, si->epoch);
    snprintf(u[1], sizeof u[1], "%" PRIu64, si->applied_seq);
    snprintf(u[2], sizeof u[2], "%" PRIu64, si->spool_depth);
    snprintf(u[3], sizeof u[3], "%" PRIu64, si->applied);
    snprintf(u[4], sizeof u[4], "%" PRIu64, si->rejected);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sourceId", si->source_id, "epoch",
                          u[0], "appliedSeq", u[1], "lastSeen",
                          crr_time_format(si->last_seen_sec, 0, when, sizeof when), "spoolDepth",
                          u[2], "applied", u[3], "rejected", u[4]);
    return !o || json_array_append_new(list, o) ? -ENOMEM : 0;
}

static enum MHD_Result s_sources(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    json_t *list = json_array();
    int rc = list ? crr_store_sources_foreach(a->store, s_source_json, list) : -ENOMEM;
    if (rc) {
        json_decref(list);
        return s_store_error(c, rc);
    }
    return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "sources", list));
}

/* ------------------------------------------------------------ /api/v1/rejects */

typedef struct s_rejects {
    FILE *f;
    uint64_t left; /* records still wanted */
    size_t n;      /* records written */
} s_rejects_t;

static int s_reject_put(const char *json, size_t len, void *ud)
{
    s_rejects_t *x = ud;
    if (!x->left)
        return 1; /* enough */
    fprintf(x->f, "%s%.*s", x->n ? "," : "", (int)len, json);
    x->n++;
    x->left--;
    return 0;
}

static enum MHD_Result s_rejects(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {"limit", "after", NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    const char *ltext = s_arg(c, "limit"), *atext = s_arg(c, "after");
    uint64_t limit = S_REJECTS_LIMIT, after = 0;
    if (ltext && s_number(ltext, 1, S_REJECTS_LIMIT_MAX, &limit))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "limit needs a whole number 1..%d, not '%.64s'", S_REJECTS_LIMIT_MAX,
                               ltext);
    if (atext && s_number(atext, 0, UINT64_MAX - 1, &after))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "after needs a reject id (a whole number), not '%.64s'", atext);
    s_buf_t b;
    if (s_buf_open(&b))
        return crr_reply_text(c, 0, NULL, NULL);
    fputs("{\"rejects\":[", b.f);
    s_rejects_t x = {b.f, limit, 0};
    int rc = crr_store_rejects_foreach(a->store, after + 1, s_reject_put, &x);
    fputs("]}", b.f);
    char *text = s_buf_close(&b, rc == 0 || rc == 1);
    if (rc != 0 && rc != 1)
        return s_store_error(c, rc);
    return crr_reply_text(c, MHD_HTTP_OK, text, "application/json");
}

/* ------------------------------------------------------------ /api/v1/snapshots */

static int s_snapshot_item(const char *id, int64_t taken_at_sec, void *ud)
{
    json_t *list = ud;
    char when[40];
    json_t *o = json_pack("{s:s, s:s}", "id", id, "takenAt",
                          crr_time_format(taken_at_sec, 0, when, sizeof when));
    return !o || json_array_append_new(list, o) ? -ENOMEM : 0;
}

static enum MHD_Result s_snapshots(crr_aggregator_t *a, struct MHD_Connection *c)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    json_t *list = json_array();
    int rc = list ? crr_store_snapshots_foreach(a->store, s_snapshot_item, list) : -ENOMEM;
    if (rc) {
        json_decref(list);
        return s_store_error(c, rc);
    }
    return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:o}", "snapshots", list));
}

static enum MHD_Result s_snapshot_one(crr_aggregator_t *a, struct MHD_Connection *c, const char *id)
{
    static const char *const allowed[] = {NULL};
    enum MHD_Result ret;
    if (!s_args_ok(c, allowed, &ret))
        return ret;
    if (!*id || strlen(id) > 64 || strspn(id, "0123456789TZ-") != strlen(id))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "a snapshot id looks like 20260301T120000Z-000001, not '%.64s'", id);
    Crrmon__V1__Snapshot *snap = NULL;
    int rc = crr_store_snapshot_get(a->store, id, &snap);
    if (rc == CRR_ENOTFOUND)
        return crr_reply_error(c, MHD_HTTP_NOT_FOUND,
                               "no snapshot %s (GET /api/v1/snapshots lists them)", id);
    if (rc)
        return s_store_error(c, rc);
    char *text = crr_json_dumps(&snap->base, 0);
    crr_codec_free(&snap->base);
    return crr_reply_text(c, MHD_HTTP_OK, text, "application/json");
}

/* ------------------------------------------------------------ routing */

static int s_is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

enum MHD_Result crr_api_readyz(crr_aggregator_t *a, struct MHD_Connection *c, const char *method)
{
    if (!s_is_get(method))
        return crr_reply_405(c, "GET, HEAD", "use GET");
    const char *why = NULL;
    if (!a->store)
        why = "the store is not open";
    else if (atomic_load(&a->stopping))
        why = "stopping";
    else if (!atomic_load(&a->serving))
        why = "the ingest endpoint is not bound (starting, or bound again after a reload)";
    if (why)
        return crr_reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                              json_pack("{s:b, s:s}", "ready", 0, "reason", why));
    return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ready", 1));
}

int crr_api_route(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                  const char *method, enum MHD_Result *ret)
{
    static const struct {
        const char *url;
        enum MHD_Result (*fn)(crr_aggregator_t *, struct MHD_Connection *);
    } routes[] = {
        {"/api/v1/indicators", s_indicators}, {"/api/v1/boroughs", s_boroughs},
        {"/api/v1/series", s_series},         {"/api/v1/sources", s_sources},
        {"/api/v1/rejects", s_rejects},
    };
    static const char snap[] = "/api/v1/snapshots";
    int get = s_is_get(method);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].url) != 0)
            continue;
        *ret = get ? routes[i].fn(a, c) : crr_reply_405(c, "GET, HEAD", "use GET");
        return 1;
    }
    if (strcmp(url, snap) == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
            return 0; /* take a snapshot: http.c */
        *ret = get ? s_snapshots(a, c)
                   : crr_reply_405(c, "GET, HEAD, POST", "use GET (list) or POST (take one)");
        return 1;
    }
    static const char deliveries[] = "/deliveries"; /* ID/deliveries: http.c */
    size_t ul = strlen(url);
    if (ul > sizeof deliveries - 1 && strcmp(url + ul - (sizeof deliveries - 1), deliveries) == 0)
        return 0;
    if (strncmp(url, snap, sizeof snap - 1) == 0 && url[sizeof snap - 1] == '/') {
        *ret = get ? s_snapshot_one(a, c, url + sizeof snap)
                   : crr_reply_405(c, "GET, HEAD", "use GET");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ /metrics */

/* Writes a label value with the text format's escapes (\\, \", \n). */
static void s_label(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

/* Per source id: the latest last-seen of its epochs and the newest epoch's
 * applied sequence (sources come in (source_id, epoch) order). */
typedef struct s_src {
    FILE *seen, *seq; /* two sections, written one after the other */
    char cur[256];    /* the source id in hand ("" = none) */
    int64_t last_seen;
    uint64_t applied_seq;
} s_src_t;

static void s_src_flush(s_src_t *x)
{
    if (!x->cur[0])
        return;
    fputs("crrmon_source_last_seen_seconds{source=\"", x->seen);
    s_label(x->seen, x->cur);
    fprintf(x->seen, "\"} %" PRId64 "\n", x->last_seen);
    fputs("crrmon_source_applied_seq{source=\"", x->seq);
    s_label(x->seq, x->cur);
    fprintf(x->seq, "\"} %" PRIu64 "\n", x->applied_seq);
}

static int s_src_each(const crr_source_info_t *si, void *ud)
{
    s_src_t *x = ud;
    if (strcmp(x->cur, si->source_id) != 0) {
        s_src_flush(x);
        snprintf(x->cur, sizeof x->cur, "%s", si->source_id);
        x->last_seen = 0;
    }
    if (si->last_seen_sec > x->last_seen)
        x->last_seen = si->last_seen_sec;
    x->applied_seq = si->applied_seq; /* the newest epoch comes last */
    return 0;
}

static void s_metrics_sources(crr_aggregator_t *a, FILE *f)
{
    char *seq_text = NULL;
    size_t seq_len = 0;
    s_src_t x = {.seen = f, .seq = open_memstream(&seq_text, &seq_len)};
    if (!x.seq)
        return;
    fputs("# HELP crrmon_source_last_seen_seconds When a batch of the source last arrived (Unix "
          "time).\n# TYPE crrmon_source_last_seen_seconds gauge\n",
          f);
    fputs("# HELP crrmon_source_applied_seq The sequence applied last for the source (its newest "
          "epoch).\n# TYPE crrmon_source_applied_seq gauge\n",
          x.seq);
    if (crr_store_sources_foreach(a->store, s_src_each, &x) == 0)
        s_src_flush(&x);
    if (fclose(x.seq) == 0)
        fputs(seq_text, f);
    free(seq_text);
}

static void s_metrics_boroughs(crr_aggregator_t *a, FILE *f)
{
    fputs("# HELP crrmon_borough_last_event_seconds When an event of the borough was last "
          "applied (Unix time of its arrival).\n"
          "# TYPE crrmon_borough_last_event_seconds gauge\n",
          f);
    crr_store_read_t *r = NULL;
    if (crr_store_read_begin(a->store, &r))
        return;
    for (int i = 0; i < CRR_AGG_BOROUGHS; i++) {
        int64_t last;
        if (crr_store_read_last_arrival(r, (unsigned)i, &last) == 0)
            fprintf(f, "crrmon_borough_last_event_seconds{borough=\"%s\"} %" PRId64 "\n",
                    crr_borough_code(i), last);
    }
    crr_store_read_end(&r);
}

static void s_metrics_ack(crr_aggregator_t *a, FILE *f)
{
    fputs("# HELP crrmon_ack_latency_seconds Time from receiving a frame to sending its Ack "
          "(the group's durable commit included).\n"
          "# TYPE crrmon_ack_latency_seconds histogram\n",
          f);
    uint64_t cum = 0;
    for (size_t i = 0; i < CRR_AGG_ACK_BUCKETS; i++) {
        cum += atomic_load_explicit(&a->stats.ack_latency_le[i], memory_order_relaxed);
        if (i < CRR_AGG_ACK_BUCKETS - 1)
            fprintf(f, "crrmon_ack_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", s_ack_le[i],
                    cum);
        else
            fprintf(f, "crrmon_ack_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    /* count and sum read after the buckets may be ahead of them; never behind */
    uint64_t count = atomic_load_explicit(&a->stats.ack_latency_count, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&a->stats.ack_latency_sum_ns, memory_order_relaxed);
    fprintf(f,
            "crrmon_ack_latency_seconds_sum %.9f\ncrrmon_ack_latency_seconds_count %" PRIu64 "\n",
            (double)sum / 1e9, count < cum ? cum : count);
}

/* The crrmon_indicator_value samples now, as a malloc'd text; NULL when the
 * store cannot be read. */
static char *s_indicator_samples(crr_aggregator_t *a)
{
    crr_refdata_t ref;
    crr_query_t q = {.as_of_sec = crr_clock_now_sec(), .ref = s_ref(a, &ref)};
    Crrmon__V1__IndicatorValue **rows = NULL;
    size_t n = 0;
    if (crr_indicators_compute(a->store, &q, &rows, &n))
        return NULL;
    s_buf_t b;
    if (s_buf_open(&b)) {
        crr_indicators_free(&rows, n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const Crrmon__V1__IndicatorValue *v = rows[i];
        if (v->n_dims || !v->value)
            continue;
        char num[40];
        fprintf(b.f, "crrmon_indicator_value{indicator=\"%s\",borough=\"%s\",window=\"%u\"} %s\n",
                v->indicator, v->borough, v->window_days, s_real(v->value->value, num, sizeof num));
    }
    crr_indicators_free(&rows, n);
    return s_buf_close(&b, 1);
}

static void s_metrics_indicators(crr_aggregator_t *a, FILE *f)
{
    crr_api_t *p = a->api;
    if (!p)
        return;
    pthread_mutex_lock(&p->mmu);
    uint64_t now = crr_clock_mono_ms(), gen = atomic_load(&p->ref_gen);
    if (!p->mtext || p->mcache_ms <= 0 || now - p->mtext_ms >= (uint64_t)p->mcache_ms ||
        gen != p->mtext_gen) {
        free(p->mtext);
        p->mtext = s_indicator_samples(a); /* NULL (not kept): the next scrape tries again */
        p->mtext_ms = now;
        p->mtext_gen = gen;
        p->mcomputed++;
    }
    fprintf(f,
            "# HELP crrmon_metrics_indicator_computations_total Computations of the indicator "
            "values below ([http] metrics_cache: scrapes in between reuse the last).\n"
            "# TYPE crrmon_metrics_indicator_computations_total counter\n"
            "crrmon_metrics_indicator_computations_total %" PRIu64 "\n",
            p->mcomputed);
    fputs("# HELP crrmon_indicator_value The indicator's total row now (no dimensions), where it "
          "has a value.\n# TYPE crrmon_indicator_value gauge\n",
          f);
    if (p->mtext)
        fputs(p->mtext, f);
    pthread_mutex_unlock(&p->mmu);
}

void crr_api_metrics(crr_aggregator_t *a, FILE *f)
{
    s_metrics_sources(a, f);
    s_metrics_boroughs(a, f);
    s_metrics_ack(a, f);
    s_metrics_indicators(a, f);
}
