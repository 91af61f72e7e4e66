/* http: the aggregator's HTTP API on libmicrohttpd's internal thread.
 *
 *   GET  /healthz            200 {"status":"ok"}
 *   GET  /api/v1/stats       200 the ingest counters (crr_agg_stats_t) as JSON, with
 *                            "rejected_by_reason" and "store": the store's sizes
 *   GET  /metrics            200 the same in Prometheus text format 0.0.4
 *   POST /api/v1/snapshots   201 {"id":..,"file":..,"values":N,"as_of":..}: a snapshot now;
 *                            ?as_of=DATE (YYYY-MM-DD: the end of that UTC day) or an RFC 3339
 *                            instant: a snapshot as of then, 400 {"error":..} naming the
 *                            earliest date allowed when the store cannot serve it
 *
 * Threading: MHD runs ONE internal polling thread, so every handler runs on
 * it and the HTTP end of the request pipe (a zmq PAIR, created by the main
 * thread and used only by that thread afterwards) needs no lock. Reads
 * (counters) are atomics. Anything that writes LMDB (taking a snapshot) is
 * handed to the main loop over the pipe: request "snapshot <n>[ <as_of>]", answer
 * "<n> <status> <json>"; the handler polls for it with a deadline and gives
 * up with 503 when the aggregator is stopping (so shutdown never waits on
 * it). Answers whose number is not the current request's are dropped (a
 * timed-out request's late answer). Binds 127.0.0.1 unless configured. */
#include "aggregator.h"

#include "clock.h"
#include "indicators.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_PIPE_EP "inproc://crr-agg-http"
#define S_SNAPSHOT_TIMEOUT_MS 300000
#define S_PIPE_REQ 128 /* "snapshot <n> <as_of>" */

struct crr_http {
    struct MHD_Daemon *daemon; /* libmicrohttpd instance */
    void *pipe;                /* HTTP end of the request PAIR (MHD thread only) */
    crr_aggregator_t *a;       /* read-only use: counters and the stopping flag */
    uint64_t next_req;         /* request counter (MHD thread only) */
};

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        text = strdup("{\"error\":\"out of memory\"}");
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text ? text : (char *)"", MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static json_t *s_error(const char *text)
{
    return json_pack("{s:s}", "error", text);
}

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
    C(groups, "crrmon_ingest_groups_total",
      "Groups committed durably (one LMDB transaction each)."),
    C(apply_failures, "crrmon_ingest_apply_failures_total",
      "Groups whose apply failed (for example MDB_MAP_FULL); no Acks sent."),
    C(batch_failures, "crrmon_ingest_batch_failures_total",
      "Batches left out of their group because they alone failed to apply (error Ack sent)."),
    C(acks, "crrmon_ingest_acks_total", "Acks sent."),
    C(ack_failures, "crrmon_ingest_ack_failures_total", "Acks that could not be delivered."),
    C(disconnects, "crrmon_ingest_disconnects_total",
      "Sender connections dropped, oversized frames among them."),
    C(protocol_errors, "crrmon_ingest_protocol_errors_total",
      "Handshakes that failed on protocol errors."),
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
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static enum MHD_Result s_reply_text(struct MHD_Connection *c, unsigned status, char *text,
                                    const char *type)
{
    if (!text)
        return s_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s_error("out of memory"));
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Asks the main loop for a snapshot (as of as_of, NULL = now) and waits for its answer. */
static enum MHD_Result s_snapshot(crr_http_t *h, struct MHD_Connection *c, const char *as_of)
{
    char req[S_PIPE_REQ], ans[8192];
    if (as_of && (strlen(as_of) > 40 || strspn(as_of, "0123456789TZtz:.+-") != strlen(as_of)))
        return s_reply(c, MHD_HTTP_BAD_REQUEST,
                       s_error("as_of needs a date (2026-03-01) or an RFC 3339 instant"));
    uint64_t n = ++h->next_req;
    int len = snprintf(req, sizeof req, "snapshot %" PRIu64 "%s%s", n, as_of ? " " : "",
                       as_of ? as_of : "");
    if (zmq_send(h->pipe, req, (size_t)len, ZMQ_DONTWAIT) < 0)
        return s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, s_error("the aggregator is busy"));
    uint64_t deadline = crr_clock_mono_ms() + S_SNAPSHOT_TIMEOUT_MS;
    while (crr_clock_mono_ms() < deadline) {
        if (atomic_load(&h->a->stopping))
            return s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, s_error("the aggregator is stopping"));
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
        json_t *body = json_loads(end, 0, NULL);
        return s_reply(c, status ? status : 500, body ? body : s_error("bad answer"));
    }
    return s_reply(c, MHD_HTTP_GATEWAY_TIMEOUT, s_error("the snapshot did not finish in time"));
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
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_error("use GET"));
        return s_reply(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    }
    if (strcmp(url, "/api/v1/stats") == 0) {
        if (!get)
            return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_error("use GET"));
        return s_reply(c, MHD_HTTP_OK, s_stats(h->a));
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get)
            return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_error("use GET"));
        return s_reply_text(c, MHD_HTTP_OK, s_metrics(h->a), "text/plain; version=0.0.4");
    }
    if (strcmp(url, "/api/v1/snapshots") == 0) {
        if (!post)
            return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_error("use POST"));
        return s_snapshot(h, c, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "as_of"));
    }
    return s_reply(c, MHD_HTTP_NOT_FOUND, s_error("no such endpoint"));
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

int crr_http_open(crr_aggregator_t *a)
{
    struct sockaddr_in sa;
    if (s_parse_addr(a->cfg.http, &sa)) {
        CRR_ERROR("http '%s' is not ADDR:PORT (IPv4 address, '*' or localhost; port 0 or * = any)",
                  a->cfg.http);
        return CRR_ECONFIG;
    }
    crr_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->a = a;
    int linger = 0;
    a->http_pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    h->pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    if (!a->http_pipe || !h->pipe ||
        zmq_setsockopt(a->http_pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(h->pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(a->http_pipe, S_PIPE_EP) || zmq_connect(h->pipe, S_PIPE_EP)) {
        int rc = -errno;
        CRR_ERROR("cannot set up the HTTP request pipe: %s", zmq_strerror(errno));
        if (h->pipe)
            zmq_close(h->pipe);
        free(h);
        return rc;
    }
    a->http = h;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL,
                                 ntohs(sa.sin_port), NULL, NULL, s_handler, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
                                 NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!h->daemon) {
        CRR_ERROR("cannot start the HTTP server on %s (address in use?)", a->cfg.http);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    snprintf(a->http_ep, sizeof a->http_ep, "%s:%u", host,
             info ? (unsigned)info->port : (unsigned)ntohs(sa.sin_port));
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
    char id[160] = "", file[4400] = "", when[40];
    size_t nvalues = 0;
    int64_t as_of = 0;
    json_t *body = NULL;
    unsigned status;
    int rc = s_as_of(a, as_of_text, crr_clock_now_sec(), &as_of, &body);
    if (rc == 0)
        rc = crr_snapshots_export(a, as_of, NULL, id, sizeof id, file, sizeof file, &nvalues);
    if (rc == CRR_EINVAL && body) {
        status = MHD_HTTP_BAD_REQUEST;
    } else if (rc) {
        status =
            rc == MDB_MAP_FULL ? MHD_HTTP_INSUFFICIENT_STORAGE : MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = json_pack("{s:s}", "error", crr_strerror(rc));
    } else {
        status = MHD_HTTP_CREATED;
        body =
            json_pack("{s:s, s:s, s:I, s:s}", "id", id, "file", file, "values", (json_int_t)nvalues,
                      "as_of", crr_time_format(as_of, 0, when, sizeof when));
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
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
