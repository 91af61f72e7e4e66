/* http: the aggregator's HTTP API on libmicrohttpd, one thread per connection.
 *
 *   GET  /healthz            200 {"status":"ok"}
 *   GET  /api/v1/stats       200 the ingest counters (crr_agg_stats_t) as JSON, with
 *                            "rejected_by_reason" and "store": the store's sizes
 *   GET  /metrics            200 the same in Prometheus text format 0.0.4 (and api.c's series)
 *   GET  /readyz, GET /api/v1/... (but POST /api/v1/snapshots): api.c (api.h)
 *   POST /api/v1/snapshots   201 {"id":..,"file":..,"values":N,"as_of":..,"deliveries":[{"sink",
 *                            "state","error","file"}]}: a snapshot now, answered once each
 *                            sink delivered it or failed once, or after ?wait=S seconds
 *                            (default and at most S_DELIVERY_WAIT_MS; 0: at once);
 *                            ?as_of=DATE (YYYY-MM-DD: the end of that UTC day) or an RFC 3339
 *                            instant: a snapshot as of then, 400 {"error":..} naming the
 *                            earliest date allowed when the store cannot serve it
 *   GET  /api/v1/snapshots/ID/deliveries[?wait=S]
 *                            200 {"id":..,"deliveries":[{"sink","state","error","file"}]}:
 *                            each sink's outcome, once those never tried are decided or
 *                            after S seconds (at most S_DELIVERY_WAIT_MS); 404 when not
 *                            stored (`crrmon snapshot` polls it past a POST's wait)
 *
 * Threading: MHD accepts on its internal thread and serves each connection
 * on its own thread, so a slow snapshot or a slow client never holds up
 * /healthz. Connections are bounded (S_CONN_LIMIT in all, S_CONN_PER_IP per
 * client address: room for every SSE stream and API requests beside them,
 * aggregator.h) and one idle for S_CONN_TIMEOUT_S is closed, so idle or
 * trickling connections from one address cannot take every connection. Reads
 * (counters) are atomics; the store's sizes are a read transaction on the
 * calling thread (the env is MDB_NOTLS).
 *
 * Snapshots: anything that writes LMDB is handed to the main loop over the
 * request pipe (a zmq PAIR, request "snapshot <n>[ <as_of>]", answer "<n> <status>
 * <json>"). Concurrent POSTs are coalesced: one request is in flight at a
 * time (the mutex below also hands the pipe from thread to thread), and a
 * POST that arrives while one runs waits for it and gets its answer (the
 * same id) when it asks for the same as_of; one for another as_of waits
 * for its turn. A new snapshot starts at most once per S_SNAPSHOT_MIN_GAP_MS: a
 * POST that comes sooner waits for the gap (then starts one, which the others
 * waiting join). Waits end with 503 when the aggregator is stopping and 504
 * after S_SNAPSHOT_TIMEOUT_MS. Answers whose number is not the request's are
 * dropped (a timed-out request's late answer). Binds 127.0.0.1 unless
 * configured.
 *
 * Security ([http] section): any address but 127.0.0.1 needs TLS (tls_cert,
 * tls_key: read once at start, a key readable by group or others refused)
 * and a users_file, or the start is refused (exit 78) naming what to set.
 * With a users file, every endpoint but /healthz needs HTTP Basic
 * credentials (401 with WWW-Authenticate: Basic realm="crrmon" otherwise)
 * and every method but GET/HEAD (a change of state: POST /api/v1/snapshots)
 * the admin role (403 for a read user), on loopback too. The users are
 * re-read on SIGHUP (crr_http_reload_users, main thread) and swapped under
 * `ulock`; a connection's thread copies the one user it needs under it and
 * runs crypt_r outside it. */
#include "aggregator.h"
#include "reply.h"
#include "api.h"

#include "clock.h"
#include "codec.h"
#include "indicators.h"
#include "log.h"
#include "outbox.h"
#include "users.h"
#include "json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#define S_PIPE_EP "inproc://crr-agg-http"
#define S_SNAPSHOT_TIMEOUT_MS 300000
#define S_DELIVERY_WAIT_MS 60000 /* a POST waits this long for each sink's first outcome */
#define S_SNAP_PREFIX "/api/v1/snapshots/" /* GET .../ID/deliveries */
#define S_PIPE_REQ 128                     /* "snapshot <n> <as_of>" */
#define S_AS_OF_MAX 48                     /* the longest as_of text accepted (with its NUL) */
#define S_SNAPSHOT_MIN_GAP_MS 2000         /* between the starts of two on-demand snapshots */
#define S_CONN_LIMIT CRR_HTTP_CONN_LIMIT   /* connections in all */
#define S_CONN_PER_IP CRR_HTTP_CONN_PER_IP /* connections from one client address */
#define S_CONN_TIMEOUT_S 5                 /* an idle connection is closed after this */
#define S_REALM "crrmon"                   /* of WWW-Authenticate: Basic */
#define S_PEM_MAX (1u << 20)               /* the largest tls_cert / tls_key read */
#define S_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

_Static_assert(S_CONN_PER_IP >= CRR_HTTP_STREAMS + 32,
               "one address must reach the stream limit with room for API requests");
_Static_assert(S_CONN_PER_IP <= S_CONN_LIMIT, "the per-address limit is within the total");
_Static_assert(CRR_STORE_MAX_READERS >= S_CONN_LIMIT + CRR_AGG_OWN_READERS,
               "every HTTP connection and aggregator thread needs an LMDB reader slot");

struct crr_http {
    struct MHD_Daemon *daemon;    /* libmicrohttpd instance */
    void *pipe;                   /* HTTP end of the request PAIR (the thread holding `busy`) */
    crr_aggregator_t *a;          /* read-only use: counters and the stopping flag */
    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t cv;            /* signalled when a snapshot request ends */
    uint64_t next_req;            /* last request number sent on the pipe */
    int busy;                     /* a snapshot request is in flight (its thread owns the pipe) */
    uint64_t done_req;            /* last request number answered (or given up) */
    unsigned done_status;         /* its HTTP status */
    char *done_body;              /* its JSON answer (malloc'd), NULL = none */
    char cur_as_of[S_AS_OF_MAX];  /* as_of of the request in flight ("" = now) */
    char done_as_of[S_AS_OF_MAX]; /* as_of of the last request answered */
    uint64_t last_start_ms;       /* crr_clock_mono_ms when the last request was sent, 0 = never */
    struct sockaddr_in sa;        /* the address to bind (crr_http_prepare) */
    char *tls_cert, *tls_key;     /* PEM text when TLS is on, else NULL (kept while MHD runs) */
    int auth;                     /* a users file is configured: Basic authentication is on */
    pthread_mutex_t ulock;        /* guards users (connection threads read, a reload swaps) */
    crr_users_t users;            /* the users file as last loaded */
};

/* The store's sizes (a read transaction on this thread: the env is MDB_NOTLS). */
static json_t *s_store_stats(crr_aggregator_t *a)
{
    crr_store_stat_t st;
    if (crr_store_stat(a->store, &st) != 0)
        return json_null();
#define U(f) (json_int_t) st.f
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "agg_keys", U(agg_keys),
                     "record_ids", U(record_ids), "gauge_keys", U(gauge_keys), "snapshots",
                     U(snapshots), "rejects", U(rejects), "pages_used", U(pages_used), "page_size",
                     U(page_size), "last_pgno", U(last_pgno), "map_size", U(map_size));
#undef U
}

/* Every ingest counter, once: its name in /api/v1/stats, and its Prometheus
 * name and help text in /metrics. */
static const struct {
    const char *json; /* key in /api/v1/stats */
    const char *prom; /* metric name in /metrics */
    const char *help; /* # HELP text */
    size_t off;       /* offsetof the counter in crr_agg_stats_t */
} s_counters[] = {
#define C(f, prom, help)                                                                           \
    {                                                                                              \
#f, prom, help, offsetof(crr_agg_stats_t, f)                                               \
    }
    C(frames, "crrmon_ingest_frames_total", "Frames received on the ingest socket."),
    C(batches, "crrmon_ingest_batches_total", "Frames that parsed as a Batch."),
    C(events, "crrmon_ingest_events_total", "Events received in batches, resends included."),
    C(applied, "crrmon_events_applied_total", "Events applied to the aggregates."),
    C(duplicates, "crrmon_events_duplicate_total",
      "Events skipped as duplicates (a record id seen before for the same borough and type)."),
    C(resent, "crrmon_events_resent_total",
      "Events received again under a sequence already applied (a lost Ack; not counted twice)."),
    C(rejected, "crrmon_events_rejected_total", "Events rejected, each counted once."),
    C(malformed, "crrmon_ingest_malformed_frames_total",
      "Frames refused as malformed (not a Batch)."),
    C(oversized, "crrmon_ingest_oversized_frames_total",
      "Frames refused as malformed because over a limit (events per batch, unpacked size); "
      "frames over max_msg_size are dropped with their connection (disconnects)."),
    C(rejects_unstored, "crrmon_rejects_not_stored_total",
      "Rejections counted and acknowledged but not stored (reject storage caps)."),
    C(groups, "crrmon_ingest_groups_total",
      "Groups committed durably (one LMDB transaction each)."),
    C(apply_failures, "crrmon_ingest_apply_failures_total",
      "Groups whose apply failed (for example MDB_MAP_FULL); no Acks sent."),
    C(batch_failures, "crrmon_ingest_batch_failures_total",
      "Batches not applied for a fault of the aggregator: left out of their group because they "
      "alone failed to apply, or not unpacked for lack of memory (store_failed Ack sent)."),
    C(acks, "crrmon_ingest_acks_total", "Acks sent."),
    C(ack_failures, "crrmon_ingest_ack_failures_total", "Acks that could not be delivered."),
    C(disconnects, "crrmon_ingest_disconnects_total",
      "Sender connections dropped, oversized frames among them."),
    C(protocol_errors, "crrmon_ingest_protocol_errors_total",
      "Handshakes that failed on protocol errors."),
    C(auth_failures, "crrmon_ingest_auth_failures_total",
      "Handshakes refused by the ZAP handler: a key not admitted (unknown or revoked)."),
    C(snapshots, "crrmon_snapshots_total", "Snapshots taken."),
    C(sink_failures, "crrmon_sink_failures_total", "Sink writes that failed."),
    C(prunes, "crrmon_prunes_total", "Prunes committed."),
#undef C
};
#define S_NCOUNTERS (sizeof s_counters / sizeof s_counters[0])

static uint64_t s_counter(const crr_agg_stats_t *s, size_t off)
{
    return atomic_load_explicit((const _Atomic uint64_t *)(const void *)((const char *)s + off),
                                memory_order_relaxed);
}

static json_t *s_stats(crr_aggregator_t *a)
{
    json_t *o = json_object(), *by = json_object();
    if (!o || !by) {
        json_decref(o);
        json_decref(by);
        return NULL;
    }
    for (size_t i = 0; i < S_NCOUNTERS; i++)
        json_object_set_new(o, s_counters[i].json,
                            json_integer((json_int_t)s_counter(&a->stats, s_counters[i].off)));
    for (int c = 1; c < CRR_REJECT_CODES; c++)
        json_object_set_new(by, crr_reject_code_name(c),
                            json_integer((json_int_t)atomic_load_explicit(
                                &a->stats.rejected_by_code[c], memory_order_relaxed)));
    json_object_set_new(o, "rejected_by_reason", by);
    json_object_set_new(o, "store", s_store_stats(a));
    json_object_set_new(o, "deliveries", crr_deliver_summary_json(a));
    return o;
}

/* Prometheus text exposition format 0.0.4: the counters, rejections by
 * reason, and the store's sizes as gauges. Returns a malloc'd string. */
static char *s_metrics(crr_aggregator_t *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < S_NCOUNTERS; i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", s_counters[i].prom,
                s_counters[i].help, s_counters[i].prom, s_counters[i].prom,
                s_counter(&a->stats, s_counters[i].off));
    fprintf(f, "# HELP crrmon_events_rejected_by_reason_total Events rejected, by reason.\n"
               "# TYPE crrmon_events_rejected_by_reason_total counter\n");
    for (int c = 1; c < CRR_REJECT_CODES; c++)
        fprintf(
            f, "crrmon_events_rejected_by_reason_total{reason=\"%s\"} %" PRIu64 "\n",
            crr_reject_code_name(c),
            (uint64_t)atomic_load_explicit(&a->stats.rejected_by_code[c], memory_order_relaxed));
    crr_store_stat_t st;
    if (crr_store_stat(a->store, &st) == 0) {
        const struct {
            const char *name, *help;
            uint64_t v;
        } g[] = {
            {"crrmon_store_bucket_keys", "Aggregate keys (borough, family, day, dimensions).",
             st.agg_keys},
            {"crrmon_store_record_ids", "Remembered record ids.", st.record_ids},
            {"crrmon_store_snapshots", "Stored snapshots.", st.snapshots},
            {"crrmon_store_rejects", "Stored rejects.", st.rejects},
            {"crrmon_store_used_bytes", "Bytes of the LMDB map in use (pages used x page size).",
             st.pages_used * st.page_size},
            {"crrmon_store_map_bytes", "The LMDB map size (a hard limit).", st.map_size},
        };
        for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
            fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", g[i].name, g[i].help,
                    g[i].name, g[i].name, g[i].v);
    }
    crr_deliver_metrics(a, f);
    crr_api_metrics(a, f); /* per source, per borough, Ack latency, indicator values */
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Sends request n (as of as_of, "" = now) on the pipe and waits for its
 * answer (the caller owns the pipe: h->busy). Returns the status and sets
 * *body (malloc'd JSON text). */
static unsigned s_snapshot_ask(crr_http_t *h, uint64_t n, const char *as_of, char **body)
{
    char req[S_PIPE_REQ], ans[8192];
    int len = snprintf(req, sizeof req, "snapshot %" PRIu64 "%s%s", n, *as_of ? " " : "", as_of);
    *body = NULL;
    if (zmq_send(h->pipe, req, (size_t)len, ZMQ_DONTWAIT) < 0) {
        *body = strdup("{\"error\":\"the aggregator is busy\"}");
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    uint64_t deadline = crr_clock_mono_ms() + S_SNAPSHOT_TIMEOUT_MS;
    while (crr_clock_mono_ms() < deadline) {
        if (atomic_load(&h->a->stopping)) {
            *body = strdup("{\"error\":\"the aggregator is stopping\"}");
            return MHD_HTTP_SERVICE_UNAVAILABLE;
        }
        zmq_pollitem_t it = {h->pipe, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) <= 0)
            continue;
        int got = zmq_recv(h->pipe, ans, sizeof ans - 1, ZMQ_DONTWAIT);
        if (got < 0)
            continue;
        ans[got < (int)sizeof ans - 1 ? got : (int)sizeof ans - 1] = '\0';
        char *end;
        uint64_t id = strtoull(ans, &end, 10);
        if (id != n)
            continue; /* the late answer of a request that timed out */
        unsigned status = (unsigned)strtoul(end, &end, 10);
        while (*end == ' ')
            end++;
        *body = strdup(end);
        return status ? status : 500;
    }
    *body = strdup("{\"error\":\"the snapshot did not finish in time\"}");
    return MHD_HTTP_GATEWAY_TIMEOUT;
}

/* Waits on h->cv for up to 200 ms (h->mu held). */
static void s_wait(crr_http_t *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
}

/* The ?wait=S parameter (whole seconds; NULL = S_DELIVERY_WAIT_MS) in ms,
 * at most S_DELIVERY_WAIT_MS. Returns 0, or -1 when it is not a number. */
static int s_wait_ms(const char *wait, uint64_t *ms)
{
    *ms = S_DELIVERY_WAIT_MS;
    if (!wait)
        return 0;
    char *end;
    unsigned long long sec = strtoull(wait, &end, 10);
    if (!*wait || *end || *wait == '-')
        return -1;
    *ms = sec < S_DELIVERY_WAIT_MS / 1000 ? sec * 1000 : S_DELIVERY_WAIT_MS;
    return 0;
}

/* POST /api/v1/snapshots[?as_of=][&wait=]: joins the snapshot in flight for the
 * same as_of, or starts one (at most one start per S_SNAPSHOT_MIN_GAP_MS),
 * and answers with its result. */
static enum MHD_Result s_snapshot(crr_http_t *h, struct MHD_Connection *c, const char *as_of,
                                  const char *wait)
{
    uint64_t wait_ms;
    if (s_wait_ms(wait, &wait_ms) != 0)
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST, "wait needs whole seconds");
    if (!as_of)
        as_of = "";
    if (strlen(as_of) >= S_AS_OF_MAX || strspn(as_of, "0123456789TZtz:.+-") != strlen(as_of))
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST,
                               "as_of needs a date (2026-03-01) or an RFC 3339 instant");
    uint64_t deadline = crr_clock_mono_ms() + S_SNAPSHOT_TIMEOUT_MS;
    pthread_mutex_lock(&h->mu);
    uint64_t join = 0; /* the request whose answer we take */
    for (;;) {
        if (atomic_load(&h->a->stopping) || crr_clock_mono_ms() >= deadline) {
            pthread_mutex_unlock(&h->mu);
            return crr_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "the aggregator is stopping or busy");
        }
        if (join && h->done_req >= join) {
            if (h->done_req == join || strcmp(h->done_as_of, as_of) == 0)
                break; /* ours is answered (or a later one for the same as_of) */
            join = 0;  /* ours was answered and replaced by another as_of's: ask again */
        }
        if (h->busy) {
            if (strcmp(h->cur_as_of, as_of) == 0)
                join = h->next_req; /* coalesce with the request in flight */
            s_wait(h);
            continue;
        }
        uint64_t now = crr_clock_mono_ms();
        if (h->last_start_ms && now < h->last_start_ms + S_SNAPSHOT_MIN_GAP_MS) {
            s_wait(h); /* rate limit: one start per gap; whoever starts next, we may join */
            continue;
        }
        uint64_t n = ++h->next_req;
        h->busy = 1;
        h->last_start_ms = now;
        snprintf(h->cur_as_of, sizeof h->cur_as_of, "%s", as_of);
        pthread_mutex_unlock(&h->mu);
        char *body;
        unsigned status = s_snapshot_ask(h, n, as_of, &body);
        pthread_mutex_lock(&h->mu);
        free(h->done_body);
        h->done_body = body;
        h->done_status = status;
        h->done_req = n;
        snprintf(h->done_as_of, sizeof h->done_as_of, "%s", as_of);
        h->busy = 0;
        pthread_cond_broadcast(&h->cv);
        join = n;
        break;
    }
    unsigned status = h->done_status;
    json_t *body = h->done_body ? json_loads(h->done_body, 0, NULL) : NULL;
    pthread_mutex_unlock(&h->mu);
    json_t *id = status == MHD_HTTP_CREATED ? json_object_get(body, "id") : NULL;
    if (json_is_string(id)) { /* each sink's first outcome (deliver.c), not waiting past it */
        json_t *dl = crr_deliver_wait(h->a, json_string_value(id), wait_ms);
        const char *first = json_string_value(json_object_get(json_array_get(dl, 0), "state"));
        if (!first || strcmp(first, "delivered") != 0) /* "file" names only a file written */
            json_object_set_new(body, "file", json_string(""));
        json_object_set_new(body, "deliveries", dl);
    }
    return body ? crr_reply_json(c, status, body) : crr_reply_error(c, status, "bad answer");
}

/* GET /api/v1/snapshots/ID/deliveries[?wait=S] (rest = "ID/deliveries"):
 * each current sink's outcome for stored snapshot ID, after waiting up to S
 * seconds (at most S_DELIVERY_WAIT_MS) for those still undecided (never
 * tried); 404 for a snapshot not stored. */
static enum MHD_Result s_deliveries(crr_http_t *h, struct MHD_Connection *c, const char *rest,
                                    const char *wait)
{
    char id[CRR_OUTBOX_ID_MAX];
    size_t n = strcspn(rest, "/");
    if (n == 0 || n >= sizeof id || strcmp(rest + n, "/deliveries") != 0 ||
        strspn(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") < n ||
        rest[0] == '.')
        return crr_reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    snprintf(id, sizeof id, "%.*s", (int)n, rest);
    uint64_t ms;
    if (s_wait_ms(wait ? wait : "0", &ms) != 0)
        return crr_reply_error(c, MHD_HTTP_BAD_REQUEST, "wait needs whole seconds");
    Crrmon__V1__Snapshot *head = NULL;
    int rc = crr_store_snapshot_head(h->a->store, id, &head);
    if (head)
        crr_codec_free(&head->base);
    if (rc == CRR_ENOTFOUND)
        return crr_reply_error(c, MHD_HTTP_NOT_FOUND, "no such snapshot stored");
    if (rc)
        return crr_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", crr_strerror(rc));
    json_t *dl = crr_deliver_wait(h->a, id, ms);
    return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:s, s:o}", "id", id, "deliveries", dl));
}

/* The caller's role: CRR_ROLE_ADMIN when authentication is off (loopback
 * without a users file), else what the Basic credentials prove. */
static crr_role_t s_role(crr_http_t *h, struct MHD_Connection *c)
{
    if (!h->auth)
        return CRR_ROLE_ADMIN;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    crr_role_t role = CRR_ROLE_NONE;
    if (user && pass) {
        crr_user_t one = {0}; /* a copy: crypt_r runs without the lock */
        pthread_mutex_lock(&h->ulock);
        const crr_user_t *found = crr_users_find(&h->users, user);
        if (found)
            one = *found;
        pthread_mutex_unlock(&h->ulock);
        crr_users_t just = {found ? &one : NULL, found ? 1 : 0};
        role = crr_users_check(&just, user, pass);
        explicit_bzero(&one, sizeof one);
    }
    if (role == CRR_ROLE_NONE && user)
        CRR_DEBUG("http: credentials refused for user '%.63s'", user);
    if (pass) {
        explicit_bzero(pass, strlen(pass));
        MHD_free(pass);
    }
    if (user)
        MHD_free(user);
    return role;
}

/* 401 with WWW-Authenticate: Basic realm="crrmon". */
static enum MHD_Result s_unauthorized(struct MHD_Connection *c)
{
    static const char body[] = "{\"error\":\"authentication required (HTTP Basic, realm crrmon)\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, S_REALM, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    crr_http_t *h = cls;
    (void)version;
    (void)upload_data;
    if (!*con_cls) {  /* headers only; the next call carries (or ends) the body */
        *con_cls = h; /* any non-NULL pointer: "headers seen" */
        return MHD_YES;
    }
    if (*upload_data_size) { /* no endpoint takes a body: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (strcmp(url, "/healthz") == 0) { /* open to all: liveness probes carry no credentials */
        if (!get)
            return crr_reply_405(c, "GET, HEAD", "use GET");
        return crr_reply_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    }
    if (strcmp(url, "/readyz") == 0) /* open to all too: readiness probes (api.c) */
        return crr_api_readyz(h->a, c, method);
    crr_role_t role = s_role(h, c);
    if (role == CRR_ROLE_NONE)
        return s_unauthorized(c);
    if (!get && role != CRR_ROLE_ADMIN) /* anything but a read may change state */
        return crr_reply_error(c, MHD_HTTP_FORBIDDEN, "this needs a user with the admin role");
    int sret; /* GET /api/v1/stream: Server-Sent Events (stream.c) */
    if (crr_stream_route(h->a, c, url, method, &sret))
        return (enum MHD_Result)sret;
    enum MHD_Result ret; /* the read API: /api/v1/indicators, boroughs, series, ... (api.c) */
    if (crr_api_route(h->a, c, url, method, &ret))
        return ret;
    if (crr_dashboard_owns(url)) /* GET /, /static/NAME, /api/v1/dashboard-config */
        return (enum MHD_Result)crr_dashboard_serve(h->a, c, url, method);
    if (strcmp(url, "/api/v1/stats") == 0) {
        if (!get)
            return crr_reply_405(c, "GET, HEAD", "use GET");
        return crr_reply_json(c, MHD_HTTP_OK, s_stats(h->a));
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get)
            return crr_reply_405(c, "GET, HEAD", "use GET");
        return crr_reply_text(c, MHD_HTTP_OK, s_metrics(h->a), "text/plain; version=0.0.4");
    }
    if (strcmp(url, "/api/v1/snapshots") == 0) {
        if (!post)
            return crr_reply_405(c, "POST", "use POST");
        return s_snapshot(h, c, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "as_of"),
                          MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait"));
    }
    if (strncmp(url, S_SNAP_PREFIX, strlen(S_SNAP_PREFIX)) == 0) {
        if (!get)
            return crr_reply_405(c, "GET, HEAD", "use GET");
        return s_deliveries(h, c, url + strlen(S_SNAP_PREFIX),
                            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait"));
    }
    return crr_reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    *con_cls = NULL;
}

/* Parses "ADDR:PORT" ("*" or "" = any address, "localhost", port "*" = 0). */
static int s_parse_addr(const char *text, struct sockaddr_in *sa)
{
    const char *colon = strrchr(text, ':');
    if (!colon)
        return CRR_ECONFIG;
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (!host[0] || strcmp(host, "*") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return CRR_ECONFIG;
    const char *port = colon + 1;
    if (strcmp(port, "*") == 0) {
        sa->sin_port = 0;
        return 0;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (end == port || *end || p < 0 || p > 65535)
        return CRR_ECONFIG;
    sa->sin_port = htons((uint16_t)p);
    return 0;
}

/* Reads a PEM file (at most 1 MiB) into a malloc'd string; what names the
 * key for messages. NULL (logged) when it cannot be read or is not PEM. */
static char *s_read_pem(const char *what, const char *path, const char *marker)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        CRR_ERROR("[http] %s %s: cannot open: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(S_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, S_PEM_MAX + 1, f) : 0;
    fclose(f);
    if (buf && n <= S_PEM_MAX) {
        buf[n] = '\0';
        if (strlen(buf) == n && strstr(buf, "-----BEGIN ") && strstr(buf, marker))
            return buf;
    }
    CRR_ERROR("[http] %s %s: not a PEM file with a %s block", what, path, marker);
    free(buf);
    return NULL;
}

/* Loads tls_cert and tls_key (both or neither). 0 or CRR_ECONFIG (logged). */
static int s_load_tls(crr_http_t *h, const crr_agg_config_t *cfg)
{
    const char *cert = cfg->http_tls_cert ? cfg->http_tls_cert : "";
    const char *key = cfg->http_tls_key ? cfg->http_tls_key : "";
    if (!*cert && !*key)
        return 0;
    if (!*cert || !*key) {
        CRR_ERROR("[http] tls_cert and tls_key go together: set both (--http.tls_cert=FILE "
                  "--http.tls_key=FILE) or neither");
        return CRR_ECONFIG;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        CRR_ERROR("[http] tls_cert is set but this libmicrohttpd was built without TLS");
        return CRR_ECONFIG;
    }
    struct stat st;
    if (stat(key, &st) != 0) {
        CRR_ERROR("[http] tls_key %s: %s", key, strerror(errno));
        return CRR_ECONFIG;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        CRR_ERROR("[http] tls_key %s is open to group or others (mode %04o): a private key must "
                  "be readable by its owner only; chmod 600 it",
                  key, (unsigned)(st.st_mode & 07777));
        return CRR_ECONFIG;
    }
    h->tls_cert = s_read_pem("tls_cert", cert, "CERTIFICATE");
    h->tls_key = h->tls_cert ? s_read_pem("tls_key", key, "PRIVATE KEY") : NULL;
    return h->tls_key ? 0 : CRR_ECONFIG;
}

/* Loads path into *out after checking that only its owner may write it.
 * 0, or the load's code with the reason logged (prefix starts the line). */
static int s_load_users(const char *path, crr_users_t *out, const char *prefix)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
        CRR_ERROR("%s[http] users_file %s can be written by group or others (mode %04o): "
                  "chmod 600 it",
                  prefix, path, (unsigned)(st.st_mode & 07777));
        return CRR_ECONFIG;
    }
    crr_diag_t d;
    char buf[1024];
    int rc = crr_users_load(path, out, &d);
    if (rc)
        CRR_ERROR("%s[http] users_file %s", prefix, crr_diag_format(&d, buf, sizeof buf));
    return rc;
}

int crr_http_prepare(crr_aggregator_t *a)
{
    if (a->http)
        return 0;
    crr_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->a = a;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_mutex_init(&h->ulock, NULL);
    a->http = h;
    if (s_parse_addr(a->cfg.http, &h->sa)) {
        CRR_ERROR("http '%s' is not ADDR:PORT (IPv4 address, '*' or localhost; port 0 or * = any)",
                  a->cfg.http);
        return CRR_ECONFIG;
    }
    if (s_load_tls(h, &a->cfg))
        return CRR_ECONFIG;
    const char *users = a->cfg.http_users_file ? a->cfg.http_users_file : "";
    if (*users) {
        if (s_load_users(users, &h->users, ""))
            return CRR_ECONFIG;
        h->auth = 1;
        if (h->users.n == 0)
            CRR_WARN("[http] users_file %s lists no user: every request but /healthz gets 401",
                     users);
    }
    if (h->sa.sin_addr.s_addr != htonl(INADDR_LOOPBACK) && (!h->tls_cert || !h->auth)) {
        CRR_ERROR("refusing to serve HTTP on %s: any address but 127.0.0.1 needs TLS and users; "
                  "configure%s%s (see docs/OPERATIONS.md \"HTTP security\"), or bind 127.0.0.1",
                  a->cfg.http, h->tls_cert ? "" : " [http] tls_cert and tls_key",
                  h->auth ? "" : (h->tls_cert ? " [http] users_file" : " and [http] users_file"));
        return CRR_ECONFIG;
    }
    if (!h->tls_cert && h->auth)
        CRR_WARN("http: Basic authentication without TLS on %s: passwords cross loopback in "
                 "plain text",
                 a->cfg.http);
    return 0;
}

int crr_http_reload_users(crr_aggregator_t *a)
{
    crr_http_t *h = a->http;
    if (!h || !h->auth)
        return 0;
    crr_users_t next = {0}, old;
    int rc = s_load_users(a->cfg.http_users_file, &next, "reload: ");
    if (rc) {
        CRR_ERROR("reload: keeping the %zu HTTP user(s) loaded before", h->users.n);
        return rc;
    }
    pthread_mutex_lock(&h->ulock);
    old = h->users;
    h->users = next;
    pthread_mutex_unlock(&h->ulock);
    crr_users_free(&old);
    CRR_INFO("reload: [http] users_file %s: %zu user(s)", a->cfg.http_users_file, next.n);
    return 0;
}

/* libmicrohttpd's own messages (a TLS handshake refused...) in our log format. */
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    CRR_WARN("http: %s", buf);
}

int crr_http_open(crr_aggregator_t *a)
{
    int rc = crr_http_prepare(a);
    if (rc)
        return rc;
    crr_http_t *h = a->http;
    int linger = 0;
    a->http_pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    h->pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    if (!a->http_pipe || !h->pipe ||
        zmq_setsockopt(a->http_pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(h->pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(a->http_pipe, S_PIPE_EP) || zmq_connect(h->pipe, S_PIPE_EP)) {
        rc = -errno;
        CRR_ERROR("cannot set up the HTTP request pipe: %s", zmq_strerror(errno));
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_POLL;
    /* The logger first (libmicrohttpd logs on its own until it is set), then
     * the limits, then the TLS pair when there is one. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)s_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &h->sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)s_completed, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, S_CONN_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, S_CONN_LIMIT, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, S_CONN_PER_IP, NULL},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)h->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)S_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!h->tls_cert)
        opts[6].option = MHD_OPTION_END; /* no TLS items */
    else
        flags |= MHD_USE_TLS;
    h->daemon = MHD_start_daemon(flags, ntohs(h->sa.sin_port), NULL, NULL, s_handler, h,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->daemon) {
        CRR_ERROR("cannot start the HTTP server on %s (address in use?%s)", a->cfg.http,
                  h->tls_cert ? " or a tls_cert/tls_key pair GnuTLS refuses: see above" : "");
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &h->sa.sin_addr, host, sizeof host);
    snprintf(a->http_ep, sizeof a->http_ep, "%s:%u", host,
             info ? (unsigned)info->port : (unsigned)ntohs(h->sa.sin_port));
    CRR_INFO("http: %s on %s, %s", h->tls_cert ? "TLS" : "plain HTTP", a->http_ep,
             h->auth ? "Basic authentication (users_file)" : "no authentication (loopback)");
    return 0;
}

void crr_http_close(crr_aggregator_t *a)
{
    crr_http_t *h = a->http;
    if (h) {
        if (h->daemon)
            MHD_stop_daemon(h->daemon);
        if (h->pipe)
            zmq_close(h->pipe);
        free(h->done_body);
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        crr_users_free(&h->users);
        if (h->tls_key)
            explicit_bzero(h->tls_key, strlen(h->tls_key));
        free(h->tls_key);
        free(h->tls_cert);
        pthread_mutex_destroy(&h->ulock);
        free(h);
        a->http = NULL;
    }
    if (a->http_pipe) {
        zmq_close(a->http_pipe);
        a->http_pipe = NULL;
    }
}

/* The as-of instant of a request ("" = now): 0 and *sec, or an HTTP 400 body in *err. */
static int s_as_of(crr_aggregator_t *a, const char *text, int64_t now, int64_t *sec, json_t **err)
{
    int is_date = 0;
    char msg[512];
    *sec = now;
    if (!*text)
        return 0;
    if (crr_as_of_parse(text, sec, &is_date) != 0) {
        snprintf(msg, sizeof msg,
                 "as_of needs a date (2026-03-01) or an RFC 3339 instant, not '%s'", text);
        *err = json_pack("{s:s}", "error", msg);
        return CRR_EINVAL;
    }
    if (crr_as_of_check(a->store, *sec, is_date, now, msg, sizeof msg) != 0) {
        char earliest[40];
        crr_time_format(crr_as_of_earliest_day(a->store, now) * CRR_SEC_PER_DAY, 0, earliest,
                        sizeof earliest);
        earliest[10] = '\0';
        *err = json_pack("{s:s, s:s}", "error", msg, "earliest", earliest);
        return CRR_EINVAL;
    }
    return 0;
}

static void s_pipe_answer(crr_aggregator_t *a, unsigned long long n, unsigned status, json_t *body);

void crr_http_serve_pipe(crr_aggregator_t *a)
{
    char req[S_PIPE_REQ];
    int got = zmq_recv(a->http_pipe, req, sizeof req - 1, ZMQ_DONTWAIT);
    if (got < 0)
        return;
    req[got < (int)sizeof req - 1 ? got : (int)sizeof req - 1] = '\0';
    unsigned long long n = 0;
    int off = 0;
    if (sscanf(req, "snapshot %llu%n", &n, &off) != 1)
        return;
    const char *as_of_text = req[off] == ' ' ? req + off + 1 : "";
    int64_t as_of = 0;
    json_t *body = NULL;
    unsigned status;
    int rc = s_as_of(a, as_of_text, crr_clock_now_sec(), &as_of, &body);
    if (rc == 0 && (rc = crr_snapshots_request(a, as_of, NULL, n)) == 0)
        return; /* answered by crr_http_snapshot_answer once it is stored */
    if (rc == CRR_EINVAL && body) {
        status = MHD_HTTP_BAD_REQUEST;
    } else {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        body = json_pack("{s:s}", "error", crr_strerror(rc));
    }
    s_pipe_answer(a, n, status, body);
}

void crr_http_snapshot_answer(crr_aggregator_t *a, uint64_t n, int rc, const char *id,
                              const char *file, size_t nvalues, int64_t as_of)
{
    char when[40];
    json_t *body;
    unsigned status;
    if (rc) {
        status =
            rc == MDB_MAP_FULL ? MHD_HTTP_INSUFFICIENT_STORAGE : MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = json_pack("{s:s}", "error", crr_strerror(rc));
    } else {
        status = MHD_HTTP_CREATED;
        body =
            json_pack("{s:s, s:s, s:I, s:s}", "id", id, "file", file, "values", (json_int_t)nvalues,
                      "as_of", crr_time_format(as_of, 0, when, sizeof when));
    }
    s_pipe_answer(a, n, status, body);
}

/* Sends "n status json" on the request pipe (body taken over). */
static void s_pipe_answer(crr_aggregator_t *a, unsigned long long n, unsigned status, json_t *body)
{
    char *text = crr_json_dump_checked(body, JSON_COMPACT);
    json_decref(body);
    char *ans = NULL;
    int len = text ? (int)strlen(text) + 32 : 0;
    if (text && (ans = malloc((size_t)len))) {
        len = snprintf(ans, (size_t)len, "%llu %u %s", n, status, text);
        zmq_send(a->http_pipe, ans, (size_t)len, ZMQ_DONTWAIT);
    }
    free(ans);
    free(text);
}
