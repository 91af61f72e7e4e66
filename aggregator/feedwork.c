/* feedwork: the feed worker thread. It holds the live feed's state (every
 * headline row: the total of each catalogue indicator for the 33 boroughs
 * and LONDON in each window; each borough's freshness; the reject counts)
 * and the feed sequence, and it alone makes FeedMessages.
 *
 * The main thread marks the boroughs a committed group touched
 * (crr_feedwork_touch: a bit mask under `mu`, a byte on the PAIR); at
 * midnight (UTC) it marks every borough itself (the windows slid). At most
 * once per aggregator.feed_period (1 s) the worker computes the rows (crr_indicators_compute, one
 * LMDB read transaction: ingest's write transactions go on beside it) and,
 * for the touched boroughs and LONDON, makes one IndicatorUpdate per headline
 * row whose figures differ from the state it holds (then holds the new row),
 * a BoroughFreshness per touched borough whose freshness changed, and a
 * RejectCounts when the counters moved. Each message gets the next seq and is
 * packed once: a copy goes to the SSE ring (stream.c, which makes its JSON
 * only when a stream client reads it) and the packed form to the out queue,
 * which the main thread sends on the PUB (feed.c) in the same order.
 *
 * It owns the Clone state ROUTER: a request (any frames; the last is the
 * body, ignored) is answered with the same envelope and a packed FeedState:
 * the whole state, the seq of the last message made and the run id
 * (a->feed_run, which every message carries too). Messages are made and
 * state requests answered on this one thread, so the state always reflects
 * exactly the messages up to its seq; a message still in the out queue then
 * has a seq the joiner drops. */
#include "aggregator.h"

#include "boroughs.h"
#include "clock.h"
#include "codec.h"
#include "indicators.h"
#include "log.h"

#include "crrmon/v1/feed.pb-c.h"
#include "crrmon/v1/ingest.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_EP "inproc://crr-agg-feedwork"
#define S_SCOPES (CRR_BOROUGHS + 1) /* the boroughs, then LONDON */
#define S_LONDON CRR_BOROUGHS
#define S_REJECTS_BIT (1ull << 63) /* in touched: the reject counters moved */
#define S_OUT_MAX 200000           /* messages waiting for the PUB at most (then dropped) */

typedef struct {
    int64_t last_sec; /* arrival of the last event applied, 0 = none */
    uint64_t today;   /* events arrived today (UTC) */
} s_fresh_t;

struct crr_feedwork {
    pthread_t thr;
    pthread_mutex_t mu;     /* guards stop, touched, ref, out */
    int stop;               /* crr_feedwork_stop asked */
    uint64_t touched;       /* boroughs touched since the last computation (+ S_REJECTS_BIT) */
    crr_refdata_t ref;      /* the main thread's reference data, copied at each touch */
    int have_ref;           /* ref holds something */
    crr_feed_out_t *out;    /* messages made, not yet taken by the main thread */
    size_t nout, capout;    /* entries and room in out */
    _Atomic uint64_t seq;   /* the last seq made */
    uint64_t main_rejected; /* main thread only: the reject total at the last touch */
    crr_aggregator_t *a;    /* counters (atomics) and the SSE ring */
    crr_store_t *store;     /* read transactions only */
    void *wake;             /* worker end of the PAIR */
    void *router;           /* the Clone state ROUTER */
    unsigned windows[CRR_STORE_MAX_WINDOWS];
    size_t nwindows;
    size_t nind;                        /* catalogue rows */
    Crrmon__V1__IndicatorValue **rows;  /* [ind][scope][window], NULL = never computed */
    s_fresh_t fresh[CRR_BOROUGHS];      /* the freshness held */
    uint64_t rejects[CRR_REJECT_CODES]; /* the reject counts held */
    uint64_t last_ms;                   /* monotonic ms of the last computation */
    uint64_t period_ms; /* aggregator.feed_period: between two, at least (0: never) */
    int64_t day;        /* the UTC day of the last turn: at midnight every borough is touched */
};

/* ---------------------------------------------------------------- helpers */

static void s_now(Google__Protobuf__Timestamp *ts)
{
    int64_t ns = crr_clock_now_ns();
    ts->seconds = ns / 1000000000;
    ts->nanos = (int32_t)(ns % 1000000000);
}

static int s_same_wrap(const Google__Protobuf__DoubleValue *x,
                       const Google__Protobuf__DoubleValue *y)
{
    if (!x || !y)
        return !x && !y;
    return x->value == y->value;
}

/* 1 when the published figures of two rows are the same. */
static int s_same_row(const Crrmon__V1__IndicatorValue *x, const Crrmon__V1__IndicatorValue *y)
{
    return s_same_wrap(x->value, y->value) && x->n == y->n && s_same_wrap(x->n_eff, y->n_eff) &&
           s_same_wrap(x->ci_low, y->ci_low) && s_same_wrap(x->ci_high, y->ci_high) &&
           x->reliable == y->reliable && x->boroughs_reporting == y->boroughs_reporting;
}

static int s_scope(const char *borough)
{
    return strcmp(borough, "LONDON") == 0 ? S_LONDON : crr_borough_index(borough);
}

static size_t s_window(const crr_feedwork_t *w, unsigned days)
{
    for (size_t i = 0; i < w->nwindows; i++)
        if (w->windows[i] == days)
            return i;
    return w->nwindows;
}

/* Slot of row r in w->rows, or -1 (not a headline row). *cache: the last
 * catalogue index found (rows come in catalogue order). */
static long s_slot(const crr_feedwork_t *w, const Crrmon__V1__IndicatorValue *r, size_t *cache)
{
    if (r->n_dims)
        return -1;
    size_t n;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    size_t i = *cache < n && strcmp(cat[*cache].name, r->indicator) == 0 ? *cache : n;
    for (size_t k = 0; i == n && k < n; k++)
        if (strcmp(cat[k].name, r->indicator) == 0)
            i = k;
    int sc = s_scope(r->borough);
    size_t wi = s_window(w, r->window_days);
    if (i == n || sc < 0 || wi == w->nwindows)
        return -1;
    *cache = i;
    return (long)((i * S_SCOPES + (size_t)sc) * w->nwindows + wi);
}

/* The aggregator's reject counters by code (frames refused as MALFORMED
 * counted under it too). */
static void s_reject_counts(crr_aggregator_t *a, uint64_t by[CRR_REJECT_CODES])
{
    for (unsigned c = 0; c < CRR_REJECT_CODES; c++)
        by[c] = atomic_load_explicit(&a->stats.rejected_by_code[c], memory_order_relaxed);
    by[CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED] +=
        atomic_load_explicit(&a->stats.malformed, memory_order_relaxed);
}

/* ---------------------------------------------------------------- making messages */

/* Gives m the next seq and the time, packs it once and pushes the packed form
 * to the SSE ring (which renders JSON only for a client) and (under topic) to
 * the out queue. Returns 1 when the queue was empty before (the main thread
 * needs a wake-up). */
static int s_emit(crr_feedwork_t *w, Crrmon__V1__FeedMessage *m, const char *scope,
                  const char *kind)
{
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    s_now(&at);
    m->at = &at;
    m->seq = atomic_load(&w->seq) + 1;
    m->run_id = w->a->feed_run;
    uint8_t *data = NULL;
    size_t len = 0;
    if (crr_codec_pack(&m->base, &data, &len))
        return 0;
    atomic_store(&w->seq, m->seq);
    crr_stream_push(w->a, m->seq, data, len); /* copied: its JSON is made when a client reads it */
    int was_empty = 0;
    pthread_mutex_lock(&w->mu);
    if (w->nout == w->capout && w->capout < S_OUT_MAX) {
        size_t cap = w->capout ? w->capout * 2 : 256;
        crr_feed_out_t *o = realloc(w->out, cap * sizeof *o);
        if (o) {
            w->out = o;
            w->capout = cap;
        }
    }
    if (w->nout < w->capout) {
        was_empty = w->nout == 0;
        crr_feed_out_t *o = &w->out[w->nout++];
        snprintf(o->topic, sizeof o->topic, "%s %s", scope, kind);
        o->data = data;
        o->len = len;
        data = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    free(data); /* the queue is full: the PUB's subscribers see a gap */
    return was_empty;
}

static int s_emit_row(crr_feedwork_t *w, Crrmon__V1__IndicatorValue *row,
                      const Crrmon__V1__IndicatorValue *old)
{
    Crrmon__V1__FeedMessage m = CRRMON__V1__FEED_MESSAGE__INIT;
    Crrmon__V1__IndicatorUpdate u = CRRMON__V1__INDICATOR_UPDATE__INIT;
    Google__Protobuf__DoubleValue prev = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
    u.value = row;
    if (old && old->value) {
        prev.value = old->value->value;
        u.previous = &prev;
    }
    m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_INDICATOR;
    m.indicator = &u;
    return s_emit(w, &m, row->borough, row->indicator);
}

/* Fills f (and its time ts) from w's freshness of borough b. */
static void s_fresh_msg(const crr_feedwork_t *w, int b, Crrmon__V1__BoroughFreshness *f,
                        Google__Protobuf__Timestamp *ts)
{
    crrmon__v1__borough_freshness__init(f);
    f->borough = (char *)crr_borough_code(b);
    f->events_today = w->fresh[b].today;
    if (w->fresh[b].last_sec) {
        google__protobuf__timestamp__init(ts);
        ts->seconds = w->fresh[b].last_sec;
        f->last_event = ts;
    }
}

/* The RejectCounts of w's counts: entries point into ents/ptrs (room for
 * CRR_REJECT_CODES each). */
static void s_rejects_msg(const crr_feedwork_t *w, Crrmon__V1__RejectCounts *rc,
                          Crrmon__V1__RejectCounts__ByReasonEntry *ents,
                          Crrmon__V1__RejectCounts__ByReasonEntry **ptrs)
{
    crrmon__v1__reject_counts__init(rc);
    const ProtobufCEnumDescriptor *d = &crrmon__v1__reject_code__descriptor;
    rc->by_reason = ptrs;
    for (unsigned c = 1; c < CRR_REJECT_CODES; c++) {
        if (!w->rejects[c])
            continue;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, (int)c);
        if (!v)
            continue;
        Crrmon__V1__RejectCounts__ByReasonEntry *e = &ents[rc->n_by_reason];
        crrmon__v1__reject_counts__by_reason_entry__init(e);
        e->key = (char *)(strncmp(v->name, "REJECT_CODE_", 12) == 0 ? v->name + 12 : v->name);
        e->value = w->rejects[c];
        ptrs[rc->n_by_reason++] = e;
    }
}

/* ---------------------------------------------------------------- computing */

/* Reads every borough's freshness into f. 0 or a store code. */
static int s_read_fresh(crr_feedwork_t *w, s_fresh_t f[CRR_BOROUGHS])
{
    memset(f, 0, CRR_BOROUGHS * sizeof *f);
    unsigned one = 1;
    crr_query_t q = {
        .windows = &one, .nwindows = 1, .indicator = "pipeline.events", .totals_only = 1};
    Crrmon__V1__IndicatorValue **vals = NULL;
    size_t n = 0;
    int rc = crr_indicators_compute(w->store, &q, &vals, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int b = crr_borough_index(vals[i]->borough);
        if (b >= 0 && !vals[i]->n_dims)
            f[b].today = vals[i]->n;
    }
    crr_indicators_free(&vals, n);
    crr_store_read_t *r = NULL;
    if ((rc = crr_store_read_begin(w->store, &r)) != 0)
        return rc;
    for (unsigned b = 0; b < CRR_BOROUGHS; b++) {
        int64_t sec = 0;
        if (crr_store_read_last_arrival(r, b, &sec) == 0)
            f[b].last_sec = sec;
    }
    crr_store_read_end(&r);
    return 0;
}

/* One computation: rows of every scope now, messages for the scopes in
 * touched (LONDON always when any borough is), freshness, rejects. Returns 1
 * when the main thread needs a wake-up. */
static int s_compute(crr_feedwork_t *w, uint64_t touched, const crr_refdata_t *ref, int initial)
{
    int wake = 0;
    uint64_t boroughs = touched & ~S_REJECTS_BIT;
    if (boroughs || initial) {
        /* freshness first: rows read in a later transaction hold at least the
         * events it counts, so a state whose freshness counts every event
         * sent has every one in its rows too */
        s_fresh_t f[CRR_BOROUGHS];
        int have_fresh = s_read_fresh(w, f) == 0;
        crr_query_t q = {
            .windows = w->windows, .nwindows = w->nwindows, .ref = ref, .totals_only = 1};
        Crrmon__V1__IndicatorValue **vals = NULL;
        size_t n = 0, cache = 0;
        int rc = crr_indicators_compute(w->store, &q, &vals, &n);
        if (rc)
            CRR_WARN("feed: cannot compute the headline rows: %s", crr_strerror(rc));
        for (size_t i = 0; i < n; i++) {
            long slot = s_slot(w, vals[i], &cache);
            if (slot < 0)
                continue;
            int sc = s_scope(vals[i]->borough);
            Crrmon__V1__IndicatorValue *old = w->rows[slot];
            if (!initial && (sc == S_LONDON ? 0 : !(boroughs >> sc & 1)))
                continue; /* not touched: the row held stays */
            if (!initial && old && s_same_row(old, vals[i]))
                continue;
            if (!initial)
                wake |= s_emit_row(w, vals[i], old);
            if (old)
                crr_codec_free(&old->base);
            w->rows[slot] = vals[i];
            vals[i] = NULL;
        }
        for (size_t i = 0; i < n; i++)
            if (vals[i])
                crr_codec_free(&vals[i]->base);
        free(vals);
        for (int b = 0; have_fresh && b < CRR_BOROUGHS; b++) {
            if (!initial && (!(boroughs >> b & 1) || !memcmp(&f[b], &w->fresh[b], sizeof f[b])))
                continue;
            w->fresh[b] = f[b];
            if (initial)
                continue;
            Crrmon__V1__FeedMessage m = CRRMON__V1__FEED_MESSAGE__INIT;
            Crrmon__V1__BoroughFreshness fm;
            Google__Protobuf__Timestamp ts;
            s_fresh_msg(w, b, &fm, &ts);
            m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_FRESHNESS;
            m.freshness = &fm;
            wake |= s_emit(w, &m, crr_borough_code(b), "freshness");
        }
    }
    uint64_t now[CRR_REJECT_CODES];
    s_reject_counts(w->a, now);
    if (memcmp(now, w->rejects, sizeof now)) {
        memcpy(w->rejects, now, sizeof now);
        Crrmon__V1__FeedMessage m = CRRMON__V1__FEED_MESSAGE__INIT;
        Crrmon__V1__RejectCounts rc;
        Crrmon__V1__RejectCounts__ByReasonEntry ents[CRR_REJECT_CODES], *ptrs[CRR_REJECT_CODES];
        s_rejects_msg(w, &rc, ents, ptrs);
        m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_REJECTS;
        m.rejects = &rc;
        if (!initial)
            wake |= s_emit(w, &m, "*", "rejects");
    }
    return wake;
}

/* ---------------------------------------------------------------- the state */

/* Answers one state request waiting on the ROUTER (its envelope echoed). */
static void s_answer(crr_feedwork_t *w)
{
    zmq_msg_t parts[8];
    size_t np = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *p = &parts[np < 8 ? np : 7];
        if (np >= 8)
            zmq_msg_close(p); /* an envelope this deep is nobody's: keep the last 8 */
        zmq_msg_init(p);
        if (zmq_msg_recv(p, w->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(p);
            for (size_t i = 0; i < (np < 8 ? np : 8); i++)
                zmq_msg_close(&parts[i]);
            return;
        }
        more = zmq_msg_more(p);
        np++;
    }
    if (np > 8)
        np = 8;
    size_t total = w->nind * S_SCOPES * w->nwindows, nv = 0;
    Crrmon__V1__IndicatorValue **vals = malloc((total ? total : 1) * sizeof *vals);
    Crrmon__V1__BoroughFreshness fr[CRR_BOROUGHS], *frp[CRR_BOROUGHS];
    Google__Protobuf__Timestamp ts[CRR_BOROUGHS], at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Crrmon__V1__RejectCounts rc;
    Crrmon__V1__RejectCounts__ByReasonEntry ents[CRR_REJECT_CODES], *ptrs[CRR_REJECT_CODES];
    Crrmon__V1__FeedState st = CRRMON__V1__FEED_STATE__INIT;
    for (size_t i = 0; vals && i < total; i++)
        if (w->rows[i])
            vals[nv++] = w->rows[i];
    for (int b = 0; b < CRR_BOROUGHS; b++) {
        s_fresh_msg(w, b, &fr[b], &ts[b]);
        frp[b] = &fr[b];
    }
    s_rejects_msg(w, &rc, ents, ptrs);
    s_now(&at);
    st.seq = atomic_load(&w->seq);
    st.run_id = w->a->feed_run;
    st.at = &at;
    st.values = vals;
    st.n_values = nv;
    st.freshness = frp;
    st.n_freshness = CRR_BOROUGHS;
    st.rejects = &rc;
    uint8_t *data = NULL;
    size_t len = 0;
    int ok = vals && crr_codec_pack(&st.base, &data, &len) == 0;
    free(vals);
    for (size_t i = 0; i + 1 < np; i++) /* the envelope: every frame but the body */
        zmq_msg_send(&parts[i], w->router, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (np > 1)
        zmq_send(w->router, ok ? data : (const uint8_t *)"", ok ? len : 0, ZMQ_DONTWAIT);
    for (size_t i = 0; i < np; i++)
        zmq_msg_close(&parts[i]);
    free(data);
}

/* ---------------------------------------------------------------- the thread */

/* At a new UTC day (the windows slid, events_today began again) marks every
 * borough touched. Returns the ms until the next midnight (at most a
 * minute: the wall clock may jump). */
static long s_midnight(crr_feedwork_t *w)
{
    int64_t now = crr_clock_now_sec(), day = crr_day_of(now);
    if (day != w->day && w->period_ms) {
        pthread_mutex_lock(&w->mu);
        w->touched |= (1ull << CRR_BOROUGHS) - 1;
        pthread_mutex_unlock(&w->mu);
    }
    w->day = day;
    int64_t left = (day + 1) * 86400 - now;
    return left > 60 ? 60000 : (long)(left * 1000);
}

static void *s_main(void *arg)
{
    crr_feedwork_t *w = arg;
    crr_refdata_t *ref = malloc(sizeof *ref);
    pthread_mutex_lock(&w->mu);
    int have_ref = ref && w->have_ref;
    if (have_ref)
        *ref = w->ref;
    pthread_mutex_unlock(&w->mu);
    s_compute(w, 0, have_ref ? ref : NULL, 1); /* the start state, seq 0 */
    w->last_ms = 0;
    w->day = crr_day_of(crr_clock_now_sec());
    for (;;) {
        long timeout = s_midnight(w); /* the windows slide: every borough is touched */
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        uint64_t touched = w->touched;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        uint64_t now = crr_clock_mono_ms();
        if (touched)
            timeout = w->last_ms + w->period_ms > now ? (long)(w->last_ms + w->period_ms - now) : 0;
        zmq_pollitem_t items[2] = {{w->wake, 0, ZMQ_POLLIN, 0}, {w->router, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, timeout) < 0 && zmq_errno() == ETERM)
            break;
        char b;
        while (zmq_recv(w->wake, &b, 1, ZMQ_DONTWAIT) >= 0)
            ; /* wake-ups: touched says what */
        for (int k = 0; k < 64 && (items[1].revents & ZMQ_POLLIN); k++) {
            int events = 0;
            size_t elen = sizeof events;
            zmq_getsockopt(w->router, ZMQ_EVENTS, &events, &elen);
            if (!(events & ZMQ_POLLIN))
                break;
            s_answer(w);
        }
        now = crr_clock_mono_ms();
        if (!touched || now < w->last_ms + w->period_ms)
            continue;
        pthread_mutex_lock(&w->mu);
        touched = w->touched;
        w->touched = 0;
        have_ref = ref && w->have_ref;
        if (have_ref)
            *ref = w->ref;
        pthread_mutex_unlock(&w->mu);
        w->last_ms = now;
        if (s_compute(w, touched, have_ref ? ref : NULL, 0))
            zmq_send(w->wake, "", 0, ZMQ_DONTWAIT);
    }
    free(ref);
    return NULL;
}

int crr_feedwork_start(crr_aggregator_t *a)
{
    crr_feedwork_t *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    crr_indicators_catalogue(&w->nind);
    w->nwindows = a->nwindows;
    w->period_ms = (uint64_t)a->cfg.feed_period;
    memcpy(w->windows, a->windows, a->nwindows * sizeof *a->windows);
    w->rows = calloc(w->nind * S_SCOPES * w->nwindows + 1, sizeof *w->rows);
    if (!w->rows) {
        free(w);
        return -ENOMEM;
    }
    w->a = a;
    w->store = a->store;
    w->have_ref = a->have_ref;
    if (a->have_ref)
        w->ref = a->ref;
    int linger = 0;
    a->feed_pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    w->wake = zmq_socket(a->zctx, ZMQ_PAIR);
    if (!a->feed_pipe || !w->wake ||
        zmq_setsockopt(a->feed_pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(w->wake, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(a->feed_pipe, S_EP) || zmq_connect(w->wake, S_EP)) {
        int rc = -zmq_errno();
        if (w->wake)
            zmq_close(w->wake);
        if (a->feed_pipe)
            zmq_close(a->feed_pipe);
        a->feed_pipe = NULL;
        free(w->rows);
        free(w);
        return rc;
    }
    w->router = a->feed_state; /* the worker's from now on */
    a->feed_state = NULL;
    pthread_mutex_init(&w->mu, NULL);
    int rc = pthread_create(&w->thr, NULL, s_main, w);
    if (rc) {
        a->feed_state = w->router;
        zmq_close(w->wake);
        zmq_close(a->feed_pipe);
        a->feed_pipe = NULL;
        pthread_mutex_destroy(&w->mu);
        free(w->rows);
        free(w);
        return -rc;
    }
    a->feedw = w;
    return 0;
}

void crr_feedwork_touch(crr_aggregator_t *a, uint64_t boroughs, int rejects)
{
    crr_feedwork_t *w = a->feedw;
    if (!w || !w->period_ms)
        return; /* aggregator.feed_period = 0: the feed is off */
    uint64_t rej = 0, by[CRR_REJECT_CODES];
    s_reject_counts(a, by);
    for (unsigned c = 0; c < CRR_REJECT_CODES; c++)
        rej += by[c];
    if (rej != w->main_rejected) {
        w->main_rejected = rej;
        rejects = 1;
    }
    if (!boroughs && !rejects)
        return;
    pthread_mutex_lock(&w->mu);
    int was = w->touched != 0;
    w->touched |= boroughs | (rejects ? S_REJECTS_BIT : 0);
    w->have_ref = a->have_ref;
    if (a->have_ref)
        w->ref = a->ref;
    pthread_mutex_unlock(&w->mu);
    if (!was)
        zmq_send(a->feed_pipe, "", 0, ZMQ_DONTWAIT);
}

void crr_feedwork_take(crr_aggregator_t *a, crr_feed_out_t **out, size_t *n)
{
    crr_feedwork_t *w = a->feedw;
    char b;
    while (zmq_recv(a->feed_pipe, &b, 1, ZMQ_DONTWAIT) >= 0)
        ; /* wake-ups: the queue says what */
    *out = NULL;
    *n = 0;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    *out = w->out;
    *n = w->nout;
    w->out = NULL;
    w->nout = w->capout = 0;
    pthread_mutex_unlock(&w->mu);
}

void crr_feedwork_free_out(crr_feed_out_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(out[i].data);
    free(out);
}

uint64_t crr_feedwork_seq(crr_aggregator_t *a)
{
    crr_feedwork_t *w = a->feedw;
    return w ? atomic_load(&w->seq) : 0;
}

void crr_feedwork_stop(crr_aggregator_t *a)
{
    crr_feedwork_t *w = a->feedw;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_mutex_unlock(&w->mu);
    zmq_send(a->feed_pipe, "", 0, ZMQ_DONTWAIT);
    pthread_join(w->thr, NULL);
    zmq_close(w->wake);
    zmq_close(w->router);
    zmq_close(a->feed_pipe);
    a->feed_pipe = NULL;
    crr_feedwork_free_out(w->out, w->nout);
    size_t total = w->nind * S_SCOPES * w->nwindows;
    for (size_t i = 0; i < total; i++)
        if (w->rows[i])
            crr_codec_free(&w->rows[i]->base);
    free(w->rows);
    pthread_mutex_destroy(&w->mu);
    free(w);
    a->feedw = NULL;
}
