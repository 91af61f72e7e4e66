/* zap: CURVE on the aggregator's sockets and its own ZAP handler (RFC 27).
 *
 * CZMQ's zauth guards only sockets on CZMQ's own context and serves one
 * certificate folder per context, so the aggregator runs this small handler
 * on ITS libzmq context: a REP socket bound to inproc://zeromq.zap.01 on a
 * thread of its own. libzmq asks it about every CURVE handshake; domain
 * "ingest" admits the keys of [security] clients_dir (each bound to the
 * boroughs in its certificate's metadata), domain "feed" the keys of
 * [security] feed_clients_dir. An admitted peer's User-Id is its Z85 public
 * key, which ingest reads from every message (zmq_msg_gets) and looks up
 * again per batch (crr_zap_admit): CURVE checks keys only at the handshake,
 * so a key removed by a SIGHUP reload (crr_zap_reload) is refused from its
 * next batch on. The certificate name and boroughs also travel as ZAP
 * metadata (properties "Name", "Boroughs") for anything reading messages.
 *
 * Threading: the handler thread reads the folders' tables under the mutex;
 * the main thread replaces them under the mutex (reload) and reads them
 * without it (it is the only writer). */
#include "aggregator.h"

#include "certs.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_ZAP_EP "inproc://zeromq.zap.01"

struct crr_zap {
    uint8_t server_sec[CRR_CERT_KEY]; /* the aggregator's secret key */
    crr_certdir_t ingest;             /* admitted collectors */
    crr_certdir_t feed;               /* admitted feed subscribers */
    pthread_mutex_t mu;               /* guards ingest and feed against the thread */
    pthread_t thread;                 /* the handler */
    void *rep;                        /* REP on S_ZAP_EP (handler thread) */
    atomic_int stop;                  /* set to end the thread */
    int started;                      /* thread is running */
};

/* Loads both folders into in/fd. 0 or CRR_ECONFIG (logged). */
static int s_load_dirs(const crr_agg_config_t *cfg, crr_certdir_t *in, crr_certdir_t *fd)
{
    crr_diag_t d;
    char buf[1024];
    in->v = fd->v = NULL;
    in->n = fd->n = 0;
    if (*cfg->clients_dir && crr_certdir_load(cfg->clients_dir, 1, in, &d)) {
        CRR_ERROR("[security] clients_dir: %s", crr_diag_format(&d, buf, sizeof buf));
        return CRR_ECONFIG;
    }
    if (*cfg->feed_clients_dir && crr_certdir_load(cfg->feed_clients_dir, 0, fd, &d)) {
        crr_certdir_free(in);
        CRR_ERROR("[security] feed_clients_dir: %s", crr_diag_format(&d, buf, sizeof buf));
        return CRR_ECONFIG;
    }
    return 0;
}

/* Appends one ZMTP metadata property (name, 4-byte big-endian length, value). */
static size_t s_prop(uint8_t *out, size_t at, size_t cap, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (at + 1 + nl + 4 + vl > cap)
        return at;
    out[at++] = (uint8_t)nl;
    memcpy(out + at, name, nl);
    at += nl;
    out[at++] = (uint8_t)(vl >> 24);
    out[at++] = (uint8_t)(vl >> 16);
    out[at++] = (uint8_t)(vl >> 8);
    out[at++] = (uint8_t)vl;
    memcpy(out + at, value, vl);
    return at + vl;
}

/* Decides one request: fills user (Z85 key) and meta; returns 1 = admit. */
static int s_decide(crr_zap_t *z, zmq_msg_t *f, char *user, uint8_t *meta, size_t *mlen)
{
    char domain[32];
    size_t dl = zmq_msg_size(&f[2]);
    snprintf(domain, sizeof domain, "%.*s", (int)(dl < 31 ? dl : 31),
             (const char *)zmq_msg_data(&f[2]));
    if (zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) ||
        zmq_msg_size(&f[6]) != CRR_CERT_KEY)
        return 0;
    zmq_z85_encode(user, zmq_msg_data(&f[6]), CRR_CERT_KEY);
    int ok = 0;
    pthread_mutex_lock(&z->mu);
    const crr_certdir_t *cd = strcmp(domain, "ingest") == 0 ? &z->ingest
                              : strcmp(domain, "feed") == 0 ? &z->feed
                                                            : NULL;
    const crr_cert_entry_t *e = cd ? crr_certdir_find(cd, user) : NULL;
    if (e) {
        char list[CRR_CERT_BOROUGHS * 10 + 1] = "";
        for (size_t i = 0; i < e->nboroughs; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "",
                     e->boroughs[i]);
        *mlen = s_prop(meta, 0, 512, "Name", e->name);
        *mlen = s_prop(meta, *mlen, 512, "Boroughs", list);
        ok = 1;
    }
    pthread_mutex_unlock(&z->mu);
    if (!ok)
        CRR_WARN("zap: %s handshake refused: key %s is not in the admitted certificates",
                 domain[0] ? domain : "(no domain)", user);
    return ok;
}

/* Answers one request (7 frames: version, id, domain, address, identity,
 * mechanism, credentials) read from the REP socket. */
static void s_handle(crr_zap_t *z)
{
    zmq_msg_t f[8];
    int n = 0, more = 1;
    while (more && n < 8) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], z->rep, 0) < 0) {
            zmq_msg_close(&f[n]);
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) { /* drain anything beyond what RFC 27 sends */
        zmq_msg_t x;
        zmq_msg_init(&x);
        int r = zmq_msg_recv(&x, z->rep, 0);
        more = r >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    char user[CRR_CERT_Z85] = "";
    uint8_t meta[512];
    size_t mlen = 0;
    int ok = n == 7 && s_decide(z, f, user, meta, &mlen);
    const char *code = ok ? "200" : "400", *text = ok ? "OK" : "key not admitted";
    zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send(z->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(z->rep, code, 3, ZMQ_SNDMORE);
    zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->rep, user, ok ? strlen(user) : 0, ZMQ_SNDMORE);
    zmq_send(z->rep, meta, ok ? mlen : 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *s_thread(void *arg)
{
    crr_zap_t *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->rep, 0, ZMQ_POLLIN, 0};
        int r = zmq_poll(&it, 1, 200);
        if (r < 0 && zmq_errno() == ETERM)
            break;
        if (r > 0)
            s_handle(z);
    }
    return NULL;
}

/* Insecure: the default ingest and feed endpoints (every interface) bind
 * 127.0.0.1 instead; an endpoint given explicitly is kept. Returns 0. */
static int s_loopback_defaults(crr_aggregator_t *a)
{
    static const struct {
        const char *def, *local;
    } m[] = {{"tcp://*:7400", "tcp://127.0.0.1:7400"}, {"tcp://*:7401", "tcp://127.0.0.1:7401"}};
    char **eps[] = {&a->cfg.ingest, &a->cfg.feed};
    for (size_t i = 0; i < 2; i++) {
        char *local = strcmp(*eps[i], m[i].def) == 0 ? strdup(m[i].local) : NULL;
        if (local) {
            free(*eps[i]);
            *eps[i] = local;
        }
    }
    CRR_WARN("--insecure: no CURVE keys ([security] server_cert, clients_dir): plain TCP, any "
             "process that reaches %s or %s can read and forge events",
             a->cfg.ingest, a->cfg.feed);
    return 0;
}

int crr_zap_start(crr_aggregator_t *a)
{
    const crr_agg_config_t *cfg = &a->cfg;
    if (!*cfg->server_cert) {
        if (cfg->insecure)
            return s_loopback_defaults(a);
        CRR_ERROR("no CURVE keys configured: set [security] server_cert = FILE (the "
                  "aggregator's secret certificate, `crrmon keygen NAME`) and [security] "
                  "clients_dir = DIR (the admitted collectors' public certificates); or run "
                  "plain TCP with --insecure");
        return CRR_ECONFIG;
    }
    crr_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return -ENOMEM;
    crr_diag_t d;
    char buf[1024];
    uint8_t pub[CRR_CERT_KEY];
    if (crr_cert_load_secret(cfg->server_cert, pub, z->server_sec, &d)) {
        CRR_ERROR("[security] server_cert: %s", crr_diag_format(&d, buf, sizeof buf));
        free(z);
        return CRR_ECONFIG;
    }
    if (!*cfg->clients_dir)
        CRR_WARN("[security] clients_dir is not set: no collector can send");
    if (s_load_dirs(cfg, &z->ingest, &z->feed)) {
        free(z);
        return CRR_ECONFIG;
    }
    pthread_mutex_init(&z->mu, NULL);
    a->zap = z;
    z->rep = zmq_socket(a->zctx, ZMQ_REP);
    if (!z->rep || zmq_setsockopt(z->rep, ZMQ_LINGER, &(int){0}, sizeof(int)) ||
        zmq_bind(z->rep, S_ZAP_EP)) {
        CRR_ERROR("zap: cannot bind %s: %s", S_ZAP_EP, zmq_strerror(zmq_errno()));
        return CRR_EXIT_FAIL;
    }
    if (pthread_create(&z->thread, NULL, s_thread, z) != 0)
        return CRR_EXIT_FAIL;
    z->started = 1;
    CRR_INFO("security: CURVE on; %zu collector certificate(s) admitted, %zu feed subscriber(s)",
             z->ingest.n, z->feed.n);
    return 0;
}

int crr_zap_socket(crr_aggregator_t *a, void *sock, const char *domain)
{
    if (!a->zap)
        return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->zap->server_sec, CRR_CERT_KEY))
        return -zmq_errno();
    return 0;
}

int crr_zap_admit(crr_aggregator_t *a, crr_agg_slot_t *slot, zmq_msg_t *msg, crr_store_job_t *job)
{
    if (!a->zap)
        return 0;
    const char *user = zmq_msg_gets(msg, "User-Id");
    const crr_cert_entry_t *e = user ? crr_certdir_find(&a->zap->ingest, user) : NULL;
    const Crrmon__V1__Batch *b = slot->batch;
    if (!e) {
        snprintf(slot->error, sizeof slot->error,
                 "key %.40s is no longer admitted (revoked): batch of source %.64s refused",
                 user ? user : "?", b->source_id);
        CRR_WARN("%s", slot->error);
        return CRRMON__V1__REJECT_CODE__REJECT_CODE_NOT_ALLOWED;
    }
    char owner[CRR_CERT_NAME] = "";
    int rc = crr_store_source_owner(a->store, b->source_id, e->name, owner, sizeof owner);
    if (rc) {
        snprintf(slot->error, sizeof slot->error, "source owner unreadable: %s", crr_strerror(rc));
        CRR_ERROR("%s", slot->error);
        return CRRMON__V1__REJECT_CODE__REJECT_CODE_STORE_FAILED;
    }
    if (strcmp(owner, e->name) != 0) {
        snprintf(slot->error, sizeof slot->error,
                 "source %.48s belongs to certificate '%.48s': certificate '%.48s' may not send "
                 "for it; batch refused",
                 b->source_id, owner, e->name);
        CRR_WARN("%s", slot->error);
        return CRRMON__V1__REJECT_CODE__REJECT_CODE_NOT_ALLOWED;
    }
    job->allowed = (const char(*)[10])e->boroughs;
    job->nallowed = e->nboroughs;
    job->sender = e->name;
    return 0;
}

void crr_zap_reload(crr_aggregator_t *a)
{
    crr_zap_t *z = a->zap;
    if (!z)
        return;
    crr_certdir_t in, fd;
    if (s_load_dirs(&a->cfg, &in, &fd)) {
        CRR_ERROR("reload: certificate folders not re-read; the admitted keys stay as they were");
        return;
    }
    pthread_mutex_lock(&z->mu);
    crr_certdir_t old_in = z->ingest, old_fd = z->feed;
    z->ingest = in;
    z->feed = fd;
    pthread_mutex_unlock(&z->mu);
    crr_certdir_free(&old_in);
    crr_certdir_free(&old_fd);
    CRR_INFO("reload: %zu collector certificate(s) admitted, %zu feed subscriber(s)", in.n, fd.n);
}

void crr_zap_stop(crr_aggregator_t *a)
{
    crr_zap_t *z = a->zap;
    if (!z)
        return;
    if (z->started) {
        atomic_store(&z->stop, 1);
        pthread_join(z->thread, NULL);
    }
    if (z->rep)
        zmq_close(z->rep);
    crr_certdir_free(&z->ingest);
    crr_certdir_free(&z->feed);
    pthread_mutex_destroy(&z->mu);
    free(z);
    a->zap = NULL;
}
