/* client: libcrrmon-client (include/crrmon/client.h), the collector's
 * durability for a program that links it: the collector's spool
 * (collector/spool.h) and sender (client/sender.h) driven from the caller's
 * thread.
 *
 * Each send is one spool transaction (the event, committed durably), then
 * a non-blocking turn of the sender; flush turns the sender until the last
 * spooled seq is acknowledged. Acks release spooled events; the aggregator's
 * rejections are stored as spool rejects. An aggregator that lost this
 * epoch's state makes the spool start a fresh epoch (as the collector
 * does); one that holds other events under it halts the client.
 * Configuration: the collector's send keys (collector/keys.h: validation,
 * spool, sender, security), the very table crrmon-collector loads, so a key
 * added there is the library's too, with the collector's default and range,
 * and nothing here changes. The collector's own keys (files, folders, its
 * run) are refused by name.
 * Does not: read files, keep events in memory, start threads. */
#include "crrmon/client.h"

#include "certs.h"
#include "cfg.h"
#include "clock.h"
#include "codec.h"
#include "datadir.h"
#include "edge.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "sender.h"
#include "spool.h"
#include "validate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct crr_client {
    char *dir, *endpoint, *source_id; /* as given */
    crr_send_cfg_t cfg;               /* the collector's send keys (keys.h) */
    int lock;                         /* flock fd on dir/lock */
    int started;                      /* spool open and sender running */
    crr_curve_client_t curve;         /* resolved [security] keys */
    crr_spool_t *spool;               /* the durable spool */
    void *zctx;                       /* zmq context */
    crr_sender_t *sender;             /* the protocol engine */
    uint64_t release_to;              /* highest durable seq from Acks */
    uint64_t lineno;                  /* events handed in by this client (for messages) */
};

/* err = a followed by b (either may be ""), when the caller gave room. */
static void s_err(char *err, size_t len, const char *a, const char *b)
{
    if (err && len)
        snprintf(err, len, "%s%s", a, b);
}

crr_client_t *crr_client_new(const char *spool_dir, const char *endpoint, const char *source_id,
                             char *err, size_t errlen)
{
    s_err(err, errlen, "", "");
    if (!spool_dir || !*spool_dir || !endpoint || !*endpoint || !source_id) {
        s_err(err, errlen, "spool_dir, endpoint and source_id are required", "");
        return NULL;
    }
    crr_diag_t d;
    if (crr_validate_source_id(source_id, &d) != 0) {
        s_err(err, errlen, "source_id: ", d.reason);
        return NULL;
    }
    crr_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(spool_dir)) || !(c->endpoint = strdup(endpoint)) ||
        !(c->source_id = strdup(source_id))) {
        s_err(err, errlen, "out of memory", "");
        crr_client_destroy(&c);
        return NULL;
    }
    c->lock = -1;
    char *argv[] = {"libcrrmon-client", NULL}, *rest[2];
    int nrest = 0;
    if (crr_cfg_load(crr_keys_send(), &c->cfg, 1, argv, rest, &nrest, &d) != 0) {
        s_err(err, errlen, "configuration: ", d.reason);
        crr_client_destroy(&c);
        return NULL;
    }
    /* the one default that differs: a library stays quiet on its program's
     * stderr unless asked (warn; the collector daemon's default is info) */
    if (crr_cfg_set(crr_keys_send(), &c->cfg, "collector", "log_level", "warn", &d) != 0) {
        s_err(err, errlen, "configuration: ", d.reason);
        crr_client_destroy(&c);
        return NULL;
    }
    (void)crr_log_set_level_name(c->cfg.log_level);
    long holder = 0;
    int rc = crr_datadir_lock(spool_dir, &c->lock, &holder);
    if (rc) {
        char what[PATH_MAX + 128];
        if (rc == CRR_ELOCKED)
            snprintf(what, sizeof what, "spool folder %s: in use by another process (pid %ld)",
                     spool_dir, holder);
        else
            snprintf(what, sizeof what, "spool folder %s: %s", spool_dir, crr_strerror(rc));
        s_err(err, errlen, what, "");
        crr_client_destroy(&c);
        return NULL;
    }
    return c;
}

int crr_client_set(crr_client_t *c, const char *key, const char *value)
{
    if (!c || !key || !value)
        return CRR_CLIENT_EINVAL;
    if (c->started)
        return CRR_CLIENT_ESTARTED;
    const char *dot = strrchr(key, '.');
    if (!dot || dot == key || dot - key >= 64)
        return CRR_CLIENT_ECONFIG;
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
    crr_diag_t d;
    crr_diag_clear(&d);
    const crr_cfg_entry_t *send = crr_keys_send();
    if (!crr_cfg_find(send, section, dot + 1)) {
        if (crr_cfg_find(crr_keys_collector_own(), section, dot + 1))
            CRR_WARN("crr_client_set %s: a crrmon-collector key that does not apply to "
                     "libcrrmon-client (the library reads no files and has no data folder, "
                     "drop folder or run of its own; it takes the validation, spool, sender and "
                     "security keys)",
                     key);
        else
            CRR_WARN("crr_client_set %s: unknown key (no crrmon-collector key has this name)", key);
        return CRR_CLIENT_ECONFIG;
    }
    if (crr_cfg_set(send, &c->cfg, section, dot + 1, value, &d) != 0) {
        CRR_WARN("crr_client_set %s: %s", key, d.reason);
        return CRR_CLIENT_ECONFIG;
    }
    if (strcmp(key, "collector.log_level") == 0 && crr_log_set_level_name(value) != 0)
        return CRR_CLIENT_ECONFIG;
    return 0;
}

/* ---- sender callbacks (as the collector's) ---- */

static int s_fetch_one(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    (void)seq;
    int rc = crr_sender_batch_add(ud, seq, ev, len);
    return rc == CRR_ETOOBIG ? 1 : rc;
}

static int s_fetch(void *ud, uint64_t from_seq, crr_sender_batch_t *b)
{
    crr_client_t *c = ud;
    return crr_spool_fetch(c->spool, from_seq, s_fetch_one, b);
}

static uint64_t s_depth(void *ud)
{
    return crr_spool_count(((crr_client_t *)ud)->spool);
}

static uint64_t s_last(void *ud)
{
    return crr_spool_next_seq(((crr_client_t *)ud)->spool) - 1;
}

static int s_on_ack(void *ud, uint64_t durable_seq, Crrmon__V1__Rejection *const *rej, size_t n)
{
    crr_client_t *c = ud;
    if (durable_seq > c->release_to)
        c->release_to = durable_seq;
    if (n == 0)
        return 0;
    int rc = crr_spool_begin(c->spool);
    for (size_t i = 0; i < n && rc == 0; i++) {
        crr_diag_t d;
        crr_diag_clear(&d);
        crr_diag_set(&d, (int)rej[i]->code, rej[i]->field ? rej[i]->field : "", "%s",
                     rej[i]->reason ? rej[i]->reason : "");
        CRR_WARN("event seq=%llu rejected by the aggregator: %s: %s",
                 (unsigned long long)rej[i]->seq, d.field, d.reason);
        rc = crr_spool_reject(c->spool, &d, rej[i]->seq, NULL);
    }
    if (rc == 0)
        rc = crr_spool_commit(c->spool);
    if (rc)
        crr_spool_abort(c->spool);
    return rc;
}

static int s_start_sender(crr_client_t *c)
{
    crr_sender_opts_t o = {
        .endpoint = c->endpoint,
        .source_id = c->source_id,
        .epoch = crr_spool_epoch(c->spool),
        .first_seq = crr_spool_acked_seq(c->spool) + 1,
        .window_frames = (uint64_t)c->cfg.window_frames,
        .batch_events = (uint64_t)c->cfg.batch_events,
        .max_frame_bytes = c->cfg.max_frame,
        .resend_ms = c->cfg.resend_ms,
        .curve = &c->curve,
    };
    static const crr_sender_source_t src = {
        .fetch = s_fetch, .on_ack = s_on_ack, .depth = s_depth, .last_seq = s_last};
    return crr_sender_new(c->zctx, &o, &src, c, &c->sender);
}

/* Opens the spool and starts the sender on first use. */
static int s_start(crr_client_t *c)
{
    if (c->started)
        return 0;
    crr_diag_t d;
    crr_diag_clear(&d);
    char why[256];
    if (crr_keys_send_check(&c->cfg, why, sizeof why) != 0) {
        CRR_ERROR("libcrrmon-client: %s", why);
        return CRR_CLIENT_ECONFIG;
    }
    if (crr_curve_client_load("libcrrmon-client", c->cfg.client_cert, c->cfg.server_key,
                              c->cfg.insecure, &c->curve, &d)) {
        CRR_ERROR("libcrrmon-client: %s", d.reason);
        return CRR_CLIENT_ECONFIG;
    }
    char dir[PATH_MAX];
    crr_datadir_path(dir, sizeof dir, c->dir, CRR_DATADIR_SPOOL);
    crr_spool_opts_t so = {.dir = dir, .source_id = c->source_id, .max_bytes = c->cfg.spool_max};
    int rc = crr_spool_open(&so, &c->spool);
    if (rc) {
        CRR_ERROR("cannot open the spool in %s: %s", dir, crr_strerror(rc));
        return rc == CRR_ECONFIG ? CRR_CLIENT_ECONFIG : CRR_CLIENT_EIO;
    }
    c->release_to = crr_spool_acked_seq(c->spool);
    if (!(c->zctx = zmq_ctx_new()) || s_start_sender(c) != 0) {
        CRR_ERROR("cannot start the sender to %s", c->endpoint);
        return CRR_CLIENT_EIO;
    }
    c->started = 1;
    return 0;
}

/* Releases what Acks covered and acts on a halted sender. */
static int s_after_io(crr_client_t *c)
{
    if (c->release_to > crr_spool_acked_seq(c->spool) &&
        crr_spool_release(c->spool, c->release_to, NULL) != 0)
        return CRR_CLIENT_EIO;
    crr_sender_halt_t h = crr_sender_halted(c->sender, NULL);
    if (h == CRR_SENDER_RUNNING)
        return 0;
    if (h == CRR_SENDER_LOST_STATE) {
        CRR_ERROR("the aggregator lost the state of source=%s: going on under a fresh epoch "
                  "from the first unacknowledged event",
                  c->source_id);
        crr_sender_destroy(&c->sender);
        if (crr_spool_new_epoch(c->spool, NULL) != 0 || s_start_sender(c) != 0)
            return CRR_CLIENT_EIO;
        c->release_to = 0;
        return 0;
    }
    CRR_ERROR("the aggregator holds other events under source=%s epoch=%llu: another sender "
              "uses a copy of this spool folder",
              c->source_id, (unsigned long long)crr_spool_epoch(c->spool));
    return CRR_CLIENT_EHALTED;
}

/* Spools one event durably, then gives the sender a turn. */
static int s_spool(crr_client_t *c, Crrmon__V1__Event *e)
{
    int rc = crr_spool_begin(c->spool);
    if (rc == 0)
        rc = crr_spool_append(c->spool, e, "", c->lineno, NULL);
    if (rc == 0)
        rc = crr_spool_commit(c->spool);
    if (rc) {
        crr_spool_abort(c->spool);
        if (rc == CRR_ESPOOLFULL) {
            (void)crr_sender_process(c->sender); /* Acks may free room for the next try */
            int r = s_after_io(c);
            return r ? r : CRR_CLIENT_EFULL;
        }
        CRR_ERROR("spool write failed: %s", crr_strerror(rc));
        return CRR_CLIENT_EIO;
    }
    if (crr_sender_process(c->sender) != 0)
        return CRR_CLIENT_EIO;
    return s_after_io(c);
}

static crr_validate_opts_t s_vopts(const crr_client_t *c)
{
    return (crr_validate_opts_t){
        .now_sec = crr_clock_now_sec(),
        .future_slack_sec = c->cfg.future_slack_ms / 1000,
        .max_age_days = c->cfg.max_age_ms / (CRR_SEC_PER_DAY * 1000),
    };
}

int crr_client_send_json(crr_client_t *c, const char *line, size_t len)
{
    if (!c || !line)
        return CRR_CLIENT_EINVAL;
    int rc = s_start(c);
    if (rc)
        return rc;
    if (len > c->cfg.max_line) {
        CRR_WARN("event %llu: longer than %llu bytes (collector.max_line)",
                 (unsigned long long)c->lineno + 1, (unsigned long long)c->cfg.max_line);
        return CRR_CLIENT_EREJECT;
    }
    c->lineno++;
    crr_validate_opts_t vo = s_vopts(c);
    crr_diag_t d;
    Crrmon__V1__Event *e = NULL;
    rc = crr_edge_line(line, len, "client", c->lineno, &vo, &e, &d);
    if (rc == CRR_EDGE_BLANK)
        return CRR_CLIENT_EREJECT;
    if (rc == CRR_EREJECT) {
        char buf[1024];
        CRR_WARN("%s", crr_diag_format(&d, buf, sizeof buf));
        return CRR_CLIENT_EREJECT;
    }
    if (rc)
        return CRR_CLIENT_ENOMEM;
    rc = s_spool(c, e);
    crr_codec_free(&e->base);
    return rc;
}

int crr_client_send_event(crr_client_t *c, const struct Crrmon__V1__Event *event)
{
    if (!c || !event)
        return CRR_CLIENT_EINVAL;
    int rc = s_start(c);
    if (rc)
        return rc;
    const ProtobufCMessage *m = (const ProtobufCMessage *)event;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return CRR_CLIENT_ENOMEM;
    protobuf_c_message_pack(m, buf);
    Crrmon__V1__Event *e = NULL;
    rc = crr_codec_unpack_event(buf, len, c->cfg.max_frame, &e);
    free(buf);
    if (rc)
        return rc == -ENOMEM ? CRR_CLIENT_ENOMEM : CRR_CLIENT_EREJECT;
    c->lineno++;
    crr_validate_opts_t vo = s_vopts(c);
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "client");
    d.line = (long)c->lineno;
    if (crr_validate_event(e, &vo, &d) != 0) {
        char text[1024];
        CRR_WARN("%s", crr_diag_format(&d, text, sizeof text));
        crr_codec_free(&e->base);
        return CRR_CLIENT_EREJECT;
    }
    rc = s_spool(c, e);
    crr_codec_free(&e->base);
    return rc;
}

int crr_client_flush(crr_client_t *c, int timeout_ms)
{
    if (!c)
        return CRR_CLIENT_EINVAL;
    int rc = s_start(c);
    if (rc)
        return rc;
    uint64_t deadline = crr_clock_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if ((rc = s_after_io(c)))
            return rc;
        uint64_t last = crr_spool_next_seq(c->spool) - 1;
        if (crr_sender_acked_seq(c->sender) >= last)
            return s_after_io(c);
        uint64_t now = crr_clock_mono_ms();
        if (timeout_ms >= 0 && now >= deadline)
            return CRR_CLIENT_ETIMEOUT;
        long wait = timeout_ms < 0 ? 100 : (long)(deadline - now);
        if (crr_sender_poll(c->sender, wait < 100 ? wait : 100) != 0)
            return CRR_CLIENT_EIO;
    }
}

void crr_client_destroy(crr_client_t **cp)
{
    if (!cp || !*cp)
        return;
    crr_client_t *c = *cp;
    if (c->sender) {
        (void)crr_sender_poll(c->sender, 0); /* Acks already here still release */
        if (c->spool && c->release_to > crr_spool_acked_seq(c->spool))
            (void)crr_spool_release(c->spool, c->release_to, NULL);
    }
    crr_sender_destroy(&c->sender);
    crr_spool_close(&c->spool);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    crr_datadir_unlock(&c->lock);
    crr_cfg_free(crr_keys_send(), &c->cfg);
    explicit_bzero(&c->curve, sizeof c->curve); /* the secret key */
    free(c->dir);
    free(c->endpoint);
    free(c->source_id);
    free(c);
    *cp = NULL;
}

const char *crr_client_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case CRR_CLIENT_EINVAL: return "invalid argument";
    case CRR_CLIENT_EREJECT: return "invalid event (not spooled; the reason is logged)";
    case CRR_CLIENT_EFULL: return "spool full: flush, then send again";
    case CRR_CLIENT_ETIMEOUT:
        return "timed out waiting for acknowledgements (the events stay spooled)";
    case CRR_CLIENT_ECONFIG:
        return "configuration error (unknown key, bad value, or missing security keys)";
    case CRR_CLIENT_ESTARTED: return "configuration can only change before the first send or flush";
    case CRR_CLIENT_EIO: return "spool or connection error (logged)";
    case CRR_CLIENT_EHALTED:
        return "the aggregator holds other events under this source (a copied spool folder)";
    case CRR_CLIENT_ELOCKED: return "the spool folder is in use by another process";
    case CRR_CLIENT_ENOMEM: return "out of memory";
    default: return "unknown error";
    }
}
