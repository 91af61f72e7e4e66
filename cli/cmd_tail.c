/* cmd_tail: the subscriber side of the live feed (proto/crrmon/v1/feed.proto).
 *
 * It joins as the ZeroMQ Guide's Clone client: a SUB on the feed endpoint
 * subscribed to everything (a filter is applied here, so the sequence stays
 * whole), waits for that connection's handshake, then asks the state
 * endpoint (a DEALER to the aggregator's ROUTER) for the state. The state is
 * printed (each headline row, freshness and the reject counts, with the
 * state's seq and run id), and after it every FeedMessage of the same run
 * with a higher seq, in order. A message whose seq is not the next one (the
 * PUB dropped some for this subscriber past its high-water mark) or whose
 * run id is not the state's (the aggregator restarted: seq began again from
 * 1, so no seq of it can be compared with the state's) is reported on stderr
 * and the state is fetched again; the rows that changed are printed then.
 * So is a SUB that connected again (its monitor's handshake event): what
 * was published while it was away is lost, and the aggregator behind it may
 * have restarted and published before it was back. The endpoints come from --feed/--state or from
 * the aggregator's endpoints.json (--data-dir); CURVE keys as `crrmon send` takes them
 * (client/certs.h). No state survives the process. */
#include "cmd_tail.h"

#include "boroughs.h"
#include "certs.h"
#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "datadir.h"
#include "err.h"
#include "indicators.h"
#include "json.h"

#include "crrmon/v1/feed.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_CMD "tail"
#define S_MAX_MSG (256u << 20) /* the largest state accepted */
#define S_STATE_WAIT_MS 5000   /* a state request unanswered this long is sent again */
#define S_MON_EP "inproc://crr-tail-mon"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon tail (--feed ENDPOINT | --data-dir AGGDIR) [--state ENDPOINT]\n"
                 "                   [--borough CODE] [--indicator NAME] [--json]\n"
                 "                   [--client-cert FILE --server-key FILE | --insecure]\n\n"
                 "Prints a running aggregator's live feed: first the current state (every\n"
                 "headline indicator, each borough's freshness, the reject counts), then each\n"
                 "update as it comes, one line each, until interrupted. A line reads\n"
                 "  TIME  BOROUGH NAME (CODE)  INDICATOR WINDOW  OLD -> NEW [LOW, HIGH]  n=N\n"
                 "with \"(not reliable)\" where the figure is not to be read as fact.\n\n"
                 "  --feed ENDPOINT      the feed's PUB endpoint (tcp://HOST:PORT)\n"
                 "  --data-dir DIR       read the endpoints from DIR/endpoints.json instead\n"
                 "  --state ENDPOINT     the state endpoint (default: endpoints.json's, or the\n"
                 "                       feed's with its port + 1)\n"
                 "  --borough CODE       only this borough (a GSS code, or LONDON)\n"
                 "  --indicator NAME     only this indicator (crrmon indicators)\n"
                 "  --json               one crrmon.v1.FeedMessage as proto3 JSON per line\n"
                 "  --client-cert FILE   this client's SECRET certificate (crrmon keygen; also\n"
                 "                       --security.client_cert); admitted by the aggregator's\n"
                 "                       [security] feed_clients_dir\n"
                 "  --server-key FILE    the aggregator's PUBLIC certificate (also\n"
                 "                       --security.server_key)\n"
                 "  --insecure           plain TCP, no CURVE (an aggregator run with --insecure)\n"
                 "  --help               this text\n");
}

typedef struct {
    const char *feed, *state, *dir, *borough, *indicator;
    const char *client_cert, *server_key;
    int insecure, json;
} s_args_t;

#define S_GO_ON (-1)

static int s_parse_options(int argc, char **argv, s_args_t *a)
{
    static const struct option opts[] = {
        {"feed", required_argument, NULL, 'f'},
        {"state", required_argument, NULL, 's'},
        {"data-dir", required_argument, NULL, 'd'},
        {"borough", required_argument, NULL, 'b'},
        {"indicator", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"security.client_cert", required_argument, NULL, 'C'},
        {"security.server_key", required_argument, NULL, 'K'},
        {"client-cert", required_argument, NULL, 'C'},
        {"server-key", required_argument, NULL, 'K'},
        {"insecure", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'f': a->feed = optarg; break;
        case 's': a->state = optarg; break;
        case 'd': a->dir = optarg; break;
        case 'b': a->borough = optarg; break;
        case 'i': a->indicator = optarg; break;
        case 'j': a->json = 1; break;
        case 'C': a->client_cert = optarg; break;
        case 'K': a->server_key = optarg; break;
        case 'I': a->insecure = 1; break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (a->feed && a->dir)
        return crr_cli_conflict(S_CMD, "--feed", a->feed, "--data-dir", a->dir,
                                "where the aggregator is", "subscribe to the endpoint given",
                                "read the endpoints from its endpoints.json");
    if (!a->feed && !a->dir)
        return crr_cli_usage(S_CMD, "give exactly one of --feed ENDPOINT and --data-dir DIR");
    if (a->borough && strcmp(a->borough, "LONDON") != 0 && crr_borough_index(a->borough) < 0)
        return crr_cli_usage(S_CMD,
                             "--borough needs a London GSS code (E09000001..E09000033) or "
                             "LONDON, not '%s'",
                             a->borough);
    if (a->indicator) {
        size_t n;
        const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
        size_t i = 0;
        while (i < n && strcmp(cat[i].name, a->indicator) != 0)
            i++;
        if (i == n)
            return crr_cli_usage(S_CMD,
                                 "--indicator: no indicator '%s' (crrmon indicators lists them)",
                                 a->indicator);
    }
    return S_GO_ON;
}

/* The state endpoint derived from the feed's: tcp port + 1 (feed.c's rule). */
static void s_state_from_feed(const char *feed, char *out, size_t len)
{
    const char *colon = strrchr(feed, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (strncmp(feed, "tcp://", 6) == 0 && colon && end && !*end && port > 0 && port < 65535)
        snprintf(out, len, "%.*s:%ld", (int)(colon - feed), feed, port + 1);
    else
        snprintf(out, len, "%s.state", feed);
}

/* ---------------------------------------------------------------- printing */

static const char *s_name(const char *code)
{
    int b = crr_borough_index(code);
    return b >= 0 ? crr_borough_name(b) : strcmp(code, "LONDON") == 0 ? "London" : code;
}

static void s_num(char *buf, size_t len, const Google__Protobuf__DoubleValue *v)
{
    if (v)
        snprintf(buf, len, "%.6g", v->value);
    else
        snprintf(buf, len, "-");
}

static void s_time(char *buf, size_t len, const Google__Protobuf__Timestamp *ts)
{
    if (ts)
        crr_time_format(ts->seconds, 0, buf, len);
    else
        snprintf(buf, len, "-");
}

/* One readable line for m (its body) to stdout, or nothing when filtered. */
static void s_print_text(const Crrmon__V1__FeedMessage *m, int state)
{
    char at[40], x[40], y[40], lo[40], hi[40];
    s_time(at, sizeof at, m->at);
    if (m->body_case == CRRMON__V1__FEED_MESSAGE__BODY_INDICATOR) {
        const Crrmon__V1__IndicatorValue *v = m->indicator->value;
        s_num(y, sizeof y, v->value);
        s_num(lo, sizeof lo, v->ci_low);
        s_num(hi, sizeof hi, v->ci_high);
        if (state)
            snprintf(x, sizeof x, "state: ");
        else {
            s_num(x, sizeof x, m->indicator->previous);
            strcat(x, " -> ");
        }
        printf("%s  %s (%s)  %s %ud  %s%s [%s, %s]  n=%" PRIu64, at, s_name(v->borough), v->borough,
               v->indicator, v->window_days, x, y, lo, hi, v->n);
        if (strcmp(v->borough, "LONDON") == 0)
            printf("  boroughs=%u", v->boroughs_reporting);
        printf("%s\n", v->reliable ? "" : "  (not reliable)");
    } else if (m->body_case == CRRMON__V1__FEED_MESSAGE__BODY_FRESHNESS) {
        const Crrmon__V1__BoroughFreshness *f = m->freshness;
        s_time(x, sizeof x, f->last_event);
        printf("%s  %s (%s)  freshness  last event %s, %" PRIu64 " today%s\n", at,
               s_name(f->borough), f->borough, x, f->events_today, state ? " (state)" : "");
    } else if (m->body_case == CRRMON__V1__FEED_MESSAGE__BODY_REJECTS) {
        printf("%s  rejects ", at);
        for (size_t i = 0; i < m->rejects->n_by_reason; i++)
            printf(" %s=%" PRIu64, m->rejects->by_reason[i]->key, m->rejects->by_reason[i]->value);
        printf("%s%s\n", m->rejects->n_by_reason ? "" : " none", state ? " (state)" : "");
    }
}

/* 1 when m passes --borough and --indicator. */
static int s_wanted(const s_args_t *a, const Crrmon__V1__FeedMessage *m)
{
    const char *borough = NULL, *ind = NULL;
    if (m->body_case == CRRMON__V1__FEED_MESSAGE__BODY_INDICATOR) {
        borough = m->indicator->value->borough;
        ind = m->indicator->value->indicator;
    } else if (m->body_case == CRRMON__V1__FEED_MESSAGE__BODY_FRESHNESS) {
        borough = m->freshness->borough;
        if (a->indicator)
            return 0;
    } else if (a->borough || a->indicator)
        return 0; /* reject counts are aggregator-wide */
    return (!a->borough || (borough && strcmp(a->borough, borough) == 0)) &&
           (!a->indicator || (ind && strcmp(a->indicator, ind) == 0));
}

static void s_print(const s_args_t *a, const Crrmon__V1__FeedMessage *m, int state)
{
    if (!s_wanted(a, m))
        return;
    if (a->json) {
        char *j = crr_json_dumps(&m->base, 0);
        if (j)
            printf("%s\n", j);
        free(j);
    } else
        s_print_text(m, state);
}

/* Prints the state st as FeedMessages with its seq and time. */
static void s_print_state(const s_args_t *a, const Crrmon__V1__FeedState *st)
{
    Crrmon__V1__FeedMessage m = CRRMON__V1__FEED_MESSAGE__INIT;
    Crrmon__V1__IndicatorUpdate u = CRRMON__V1__INDICATOR_UPDATE__INIT;
    m.seq = st->seq;
    m.run_id = st->run_id;
    m.at = st->at;
    m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_INDICATOR;
    m.indicator = &u;
    for (size_t i = 0; i < st->n_values; i++) {
        u.value = st->values[i];
        s_print(a, &m, 1);
    }
    m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_FRESHNESS;
    for (size_t i = 0; i < st->n_freshness; i++) {
        m.freshness = st->freshness[i];
        s_print(a, &m, 1);
    }
    if (st->rejects) {
        m.body_case = CRRMON__V1__FEED_MESSAGE__BODY_REJECTS;
        m.rejects = st->rejects;
        s_print(a, &m, 1);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- sockets */

static void *s_socket(void *ctx, int type, const crr_curve_client_t *curve, const char *ep,
                      void **mon)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0, maxmsg = -1;
    if (!s)
        return NULL;
    if (type == ZMQ_SUB) { /* its handshake watched from before the connect */
        int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
        *mon = NULL;
        if (zmq_socket_monitor(s, S_MON_EP, events) || !(*mon = zmq_socket(ctx, ZMQ_PAIR)) ||
            zmq_connect(*mon, S_MON_EP)) {
            if (*mon)
                zmq_close(*mon);
            *mon = NULL;
            zmq_close(s);
            return NULL;
        }
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (crr_curve_client_apply(curve, s) || zmq_connect(s, ep)) {
        fprintf(stderr, "crrmon tail: cannot connect to %s: %s\n", ep, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* The next event of the SUB's monitor mon within ms (ZMQ_EVENT_*), or 0. */
static uint16_t s_mon_event(void *mon, long ms)
{
    zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0)
        return 0;
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, mon, 0) < 0) {
        zmq_msg_close(&ev);
        return 0;
    }
    uint16_t id = 0;
    if (zmq_msg_size(&ev) >= 2)
        memcpy(&id, zmq_msg_data(&ev), 2);
    int more = zmq_msg_more(&ev);
    zmq_msg_close(&ev);
    while (more) { /* the address frame */
        zmq_msg_init(&ev);
        zmq_msg_recv(&ev, mon, 0);
        more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
    }
    return id;
}

/* Waits until the SUB's connection finished its handshake (its subscription
 * then goes out at once), a stop, or S_STATE_WAIT_MS (then goes on: the
 * state request says the rest). A refused key is reported once. mon: the
 * SUB's monitor PAIR; ep: the feed endpoint. */
static void s_wait_handshake(void *mon, const char *ep)
{
    int said = 0;
    uint64_t t0 = crr_clock_mono_ms();
    while (!s_stop && crr_clock_mono_ms() - t0 < S_STATE_WAIT_MS) {
        uint16_t id = s_mon_event(mon, 200);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return;
        if (id && !said++)
            fprintf(stderr, "crrmon tail: %s refused the handshake%s; retrying\n", ep,
                    id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                        ? " (is this client's key in the aggregator's [security] "
                          "feed_clients_dir?)"
                        : "");
    }
}

/* 1 when the SUB connected again since the last call (the connection broke
 * and came back: what was published meanwhile is lost, and it may be to an
 * aggregator that restarted). Never waits. */
static int s_reconnected(void *mon)
{
    int again = 0;
    for (uint16_t id; (id = s_mon_event(mon, 0)) != 0;)
        again |= id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    return again;
}

/* Asks for the state until it comes (or a stop). Returns it or NULL. */
static Crrmon__V1__FeedState *s_fetch_state(void *ctx, const crr_curve_client_t *curve,
                                            const char *ep)
{
    int said = 0;
    while (!s_stop) {
        void *d = s_socket(ctx, ZMQ_DEALER, curve, ep, NULL);
        if (!d)
            return NULL;
        zmq_send(d, "state", 5, 0);
        uint64_t t0 = crr_clock_mono_ms();
        while (!s_stop && crr_clock_mono_ms() - t0 < S_STATE_WAIT_MS) {
            zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 200) <= 0)
                continue;
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            int n = zmq_msg_recv(&msg, d, 0);
            Crrmon__V1__FeedState *st = NULL;
            if (n >= 0)
                crr_codec_unpack(&crrmon__v1__feed_state__descriptor, zmq_msg_data(&msg),
                                 zmq_msg_size(&msg), S_MAX_MSG, (ProtobufCMessage **)&st);
            zmq_msg_close(&msg);
            zmq_close(d);
            if (!st)
                fprintf(stderr, "crrmon tail: the state from %s does not parse\n", ep);
            return st;
        }
        zmq_close(d);
        if (!said++)
            fprintf(stderr, "crrmon tail: no state from %s yet; asking again\n", ep);
    }
    return NULL;
}

/* Receives one feed message (NULL when none within 200 ms or unparsable). */
static Crrmon__V1__FeedMessage *s_recv(void *sub)
{
    zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 200) <= 0)
        return NULL;
    zmq_msg_t part;
    Crrmon__V1__FeedMessage *m = NULL;
    int more = 1, nparts = 0;
    while (more) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sub, 0) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (++nparts == 2)
            crr_codec_unpack(&crrmon__v1__feed_message__descriptor, zmq_msg_data(&part),
                             zmq_msg_size(&part), S_MAX_MSG, (ProtobufCMessage **)&m);
        zmq_msg_close(&part);
    }
    return m;
}

/* Subscribes, fetches the state and prints updates until a stop. Returns
 * the exit code. */
static int s_run(const s_args_t *a, const crr_curve_client_t *curve, const char *feed,
                 const char *state)
{
    void *ctx = zmq_ctx_new();
    void *mon = NULL, *sub = NULL;
    int rc = 1;
    if (!ctx || !(sub = s_socket(ctx, ZMQ_SUB, curve, feed, &mon)))
        goto out;
    s_wait_handshake(mon, feed);
    uint64_t seq = 0, run = 0;
    int need_state = 1, have_state = 0;
    while (!s_stop) {
        if (s_reconnected(mon) && have_state) {
            fprintf(stderr, "crrmon tail: connected to %s again; fetching the state again\n", feed);
            need_state = 1;
        }
        if (need_state) {
            Crrmon__V1__FeedState *st = s_fetch_state(ctx, curve, state);
            if (!st)
                break;
            if (have_state && st->run_id != run)
                fprintf(stderr,
                        "crrmon tail: the aggregator restarted (feed run %" PRIu64 ", was %" PRIu64
                        ")\n",
                        st->run_id, run);
            seq = st->seq;
            run = st->run_id;
            have_state = 1;
            s_print_state(a, st);
            crr_codec_free(&st->base);
            need_state = 0;
        }
        Crrmon__V1__FeedMessage *m = s_recv(sub);
        if (!m)
            continue;
        if (m->run_id != run) { /* another run: its seq says nothing against ours */
            fprintf(stderr,
                    "crrmon tail: a message of feed run %" PRIu64 ", the state's is %" PRIu64
                    "; fetching the state again\n",
                    m->run_id, run);
            need_state = 1;
        } else if (m->seq > seq + 1) {
            fprintf(stderr,
                    "crrmon tail: missed feed messages %" PRIu64 "..%" PRIu64
                    "; fetching the state again\n",
                    seq + 1, m->seq - 1);
            need_state = 1;
        } else if (m->seq == seq + 1) {
            seq = m->seq;
            s_print(a, m, 0);
            fflush(stdout);
        } /* else: the state held it already (Clone: dropped) */
        crr_codec_free(&m->base);
    }
    rc = s_stop ? 0 : 1;
out:
    if (mon)
        zmq_close(mon);
    if (sub)
        zmq_close(sub);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

int crr_cmd_tail(int argc, char **argv)
{
    s_args_t a = {0};
    crr_cli_getopt_reset();
    int rc = s_parse_options(argc, argv, &a);
    if (rc != S_GO_ON)
        return rc;
    crr_curve_client_t curve;
    crr_diag_t cd;
    if (crr_curve_client_load("crrmon tail", a.client_cert, a.server_key, a.insecure, &curve,
                              &cd)) {
        char buf[1024];
        return crr_cli_config(S_CMD, "%s", crr_diag_format(&cd, buf, sizeof buf));
    }
    char feed[512], state[512];
    if (a.dir) {
        if ((rc = crr_cli_endpoint(a.dir, "feed", feed, sizeof feed)) != 0)
            return crr_cli_config(
                S_CMD, "cannot read the feed endpoint from %s/" CRR_DATADIR_ENDPOINTS ": %s", a.dir,
                crr_strerror(rc));
        if (!a.state && crr_cli_endpoint(a.dir, "feed_state", state, sizeof state) != 0)
            s_state_from_feed(feed, state, sizeof state);
    } else
        snprintf(feed, sizeof feed, "%s", a.feed);
    if (a.state)
        snprintf(state, sizeof state, "%s", a.state);
    else if (!a.dir)
        s_state_from_feed(feed, state, sizeof state);
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return s_run(&a, &curve, feed, state);
}
