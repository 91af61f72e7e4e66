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
 * Dropping a revoked peer: libzmq has no per-peer disconnect on ROUTER or
 * PUB, but unbinding a TCP (or IPC) listener terminates every session it
 * accepted (libzmq 4.3: the sessions are the listener's children). So when
 * a reload removed at least one key of a folder, that folder's socket is
 * unbound from its endpoint as bound (ZMQ_LAST_ENDPOINT: the same port, never
 * the wildcard) and bound again at once: every peer's connection drops, the
 * admitted ones reconnect by themselves (the new ZAP lists already in place)
 * and resend what was not acknowledged, the revoked one is refused at its
 * handshake. Nothing acknowledged is lost: a reload runs between two groups,
 * an Ack goes out only after its group committed, and a batch resent after
 * the reconnection is skipped by its sequence numbers. The listener closes on
 * libzmq's I/O thread, so the new bind may find the port still taken for a
 * moment (an IPC listener unlinks its file then: the new bind waits for
 * that, or the new file would go with it): it is retried for S_REBIND_MS, then (logged) from every
 * turn of the loop until it succeeds (crr_zap_tick); meanwhile senders keep their events.
 *
 * Threading: the handler thread reads the folders' tables under the mutex;
 * the main thread replaces them under the mutex (reload) and reads them
 * without it (it is the only writer). */
#include "aggregator.h"

#include "certs.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_ZAP_EP "inproc://zeromq.zap.01"
#define S_REBIND_MS 5000       /* retry a rebind this long within the reload */
#define S_REBIND_STEP_MS 10    /* between two attempts */
#define S_SETTLE_MS 5000       /* after a drop, the sockets' commands are run this long */
#define S_SETTLE_POLL_MS 50    /* ... this often */
#define S_REFUSED_LOG_MS 60000 /* a refused key is logged at most once this often */
#define S_REFUSED_KEYS 16      /* refused keys remembered for that */

/* A socket whose listener was unbound to drop its peers, until bound again. */
typedef struct {
    void *sock;       /* the ROUTER or the PUB, or NULL when bound */
    char ep[256];     /* the endpoint as bound before */
    const char *what; /* "ingest" or "feed" */
} s_rebind_t;

struct crr_zap {
    uint8_t server_sec[CRR_CERT_KEY]; /* the aggregator's secret key */
    crr_certdir_t ingest;             /* admitted collectors */
    crr_certdir_t feed;               /* admitted feed subscribers */
    pthread_mutex_t mu;               /* guards ingest and feed against the thread */
    pthread_t thread;                 /* the handler */
    void *rep;                        /* REP on S_ZAP_EP (handler thread) */
    atomic_int stop;                  /* set to end the thread */
    int started;                      /* thread is running */
    s_rebind_t rebind[2];             /* ingest, feed: unbound and not bound again yet */
    uint64_t rebind_next_ms;          /* next retry from the loop (crr_zap_tick) */
    uint64_t settle_until_ms;         /* until then the dropped sockets' commands are run */
    struct {
        char key[CRR_CERT_Z85]; /* a refused key (handler thread only) */
        uint64_t at_ms;         /* when it was last logged */
    } refused[S_REFUSED_KEYS];
    size_t refused_next; /* the slot a new key takes (round robin) */
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

/* Whether a refusal of key should be logged now: once per key and
 * S_REFUSED_LOG_MS (a refused peer retries its handshake every few seconds
 * for as long as it runs). Handler thread only. */
static int s_refusal_due(crr_zap_t *z, const char *key)
{
    uint64_t now = crr_clock_mono_ms();
    for (size_t i = 0; i < S_REFUSED_KEYS; i++) {
        if (strcmp(z->refused[i].key, key) != 0)
            continue;
        if (now - z->refused[i].at_ms < S_REFUSED_LOG_MS)
            return 0;
        z->refused[i].at_ms = now;
        return 1;
    }
    size_t i = z->refused_next++ % S_REFUSED_KEYS;
    snprintf(z->refused[i].key, sizeof z->refused[i].key, "%s", key);
    z->refused[i].at_ms = now;
    return 1;
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
    if (!ok && s_refusal_due(z, user))
        CRR_WARN("zap: %s handshake refused: key %s is not in the admitted certificates (its "
                 "further attempts are logged once a minute)",
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

/* The number of keys of old that are not in now. */
static size_t s_removed(const crr_certdir_t *old, const crr_certdir_t *now)
{
    size_t n = 0;
    for (size_t i = 0; i < old->n; i++)
        n += crr_certdir_find(now, old->v[i].key) == NULL;
    return n;
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Binds r->sock to r->ep again, retrying for up to wait_ms. Clears r->sock
 * and returns 0 once bound; -errno (the last failure) otherwise. */
static int s_bind_again(s_rebind_t *r, long wait_ms)
{
    for (long waited = 0;; waited += S_REBIND_STEP_MS) {
        if (zmq_bind(r->sock, r->ep) == 0) {
            r->sock = NULL;
            return 0;
        }
        int e = zmq_errno();
        if (e != EADDRINUSE || waited >= wait_ms)
            return -e;
        s_sleep_ms(S_REBIND_STEP_MS); /* the old listener is closing on the I/O thread */
    }
}

/* Drops every connection sock accepted on ep (as bound) by unbinding and
 * binding it again (see the top of the file); logs what it did. */
static void s_drop_peers(crr_zap_t *z, s_rebind_t *r, void *sock, const char *ep, const char *what,
                         size_t removed)
{
    if (strncmp(ep, "tcp://", 6) != 0 && strncmp(ep, "ipc://", 6) != 0) {
        CRR_WARN("reload: %zu %s key(s) removed; their open connections on %s stay until they "
                 "end (only tcp:// and ipc:// listeners can be dropped), each of their messages "
                 "is refused",
                 removed, what, ep);
        return;
    }
    if (zmq_unbind(sock, ep) != 0) {
        CRR_ERROR("reload: cannot unbind %s endpoint %s to drop revoked peers: %s; their "
                  "messages are still refused one by one",
                  what, ep, zmq_strerror(zmq_errno()));
        return;
    }
    r->sock = sock;
    r->what = what;
    snprintf(r->ep, sizeof r->ep, "%s", ep);
    if (strncmp(ep, "ipc://", 6) == 0 && ep[6] != '@') {
        /* the old listener unlinks its file when it closes, on the I/O
         * thread: a new file bound before that would be unlinked with it */
        for (long waited = 0; access(ep + 6, F_OK) == 0 && waited < S_REBIND_MS;
             waited += S_REBIND_STEP_MS)
            s_sleep_ms(S_REBIND_STEP_MS);
    }
    /* the dropped sessions end only once the socket has run the pipe-term
     * commands they send it: a PUB runs commands only when touched, and the
     * feed may publish nothing for hours (crr_zap_tick touches it) */
    z->settle_until_ms = crr_clock_mono_ms() + S_SETTLE_MS;
    int rc = s_bind_again(r, S_REBIND_MS);
    if (rc == 0) {
        CRR_INFO("reload: %zu %s key(s) removed: dropped every connection on %s (admitted "
                 "peers reconnect and resend what was not acknowledged; revoked ones are "
                 "refused at the handshake)",
                 removed, what, ep);
        return;
    }
    z->rebind_next_ms = crr_clock_mono_ms() + 1000;
    CRR_ERROR("reload: %s endpoint %s was unbound to drop revoked peers and cannot be bound "
              "again: %s; retrying every second (senders keep their events meanwhile)",
              what, ep, zmq_strerror(-rc));
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
    size_t gone_in = s_removed(&old_in, &in), gone_fd = s_removed(&old_fd, &fd);
    crr_certdir_free(&old_in);
    crr_certdir_free(&old_fd);
    CRR_INFO("reload: %zu collector certificate(s) admitted, %zu feed subscriber(s)", in.n, fd.n);
    /* the new lists are in place before any peer can reconnect */
    if (gone_in && a->router && !z->rebind[0].sock)
        s_drop_peers(z, &z->rebind[0], a->router, a->ingest_ep, "ingest", gone_in);
    if (gone_fd && a->pub && !z->rebind[1].sock)
        s_drop_peers(z, &z->rebind[1], a->pub, a->feed_ep, "feed", gone_fd);
}

int crr_zap_tick(crr_aggregator_t *a)
{
    crr_zap_t *z = a->zap;
    if (!z)
        return -1;
    int cap = -1;
    if (crr_clock_mono_ms() < z->settle_until_ms) {
        int events; /* ZMQ_EVENTS runs the socket's pending commands */
        size_t len = sizeof events;
        zmq_getsockopt(a->router, ZMQ_EVENTS, &events, &len);
        len = sizeof events;
        if (a->pub)
            zmq_getsockopt(a->pub, ZMQ_EVENTS, &events, &len);
        cap = S_SETTLE_POLL_MS;
    }
    if ((!z->rebind[0].sock && !z->rebind[1].sock) || crr_clock_mono_ms() < z->rebind_next_ms)
        return cap;
    for (size_t i = 0; i < 2; i++) {
        s_rebind_t *r = &z->rebind[i];
        if (!r->sock)
            continue;
        const char *what = r->what;
        int rc = s_bind_again(r, 0);
        if (rc == 0)
            CRR_INFO("%s endpoint %s bound again", what, r->ep);
        else
            CRR_DEBUG("%s endpoint %s still cannot be bound: %s", what, r->ep, zmq_strerror(-rc));
    }
    z->rebind_next_ms = crr_clock_mono_ms() + 1000;
    return cap < 0 || cap > 1000 ? 1000 : cap;
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

int crr_zap_ingest_bound(crr_aggregator_t *a)
{
    if (!a->router)
        return 0;
    return !a->zap || !a->zap->rebind[0].sock;
}
