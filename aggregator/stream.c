/* stream: GET /api/v1/stream, the live feed as Server-Sent Events.
 *
 * The feed worker (feedwork.c) pushes each FeedMessage's packed bytes here
 * with its seq (crr_stream_push: a copy of what it packed for the PUB); a ring
 * keeps the last [http] stream_replay of them. An entry's JSON is rendered
 * (crr_codec_unpack, crr_json_dumps) the first time a connection needs it
 * and kept in the entry for the others, so a feed nobody watches costs no
 * JSON; the ring's mutex guards the entries, renders included. Each
 * SSE connection is a libmicrohttpd callback response whose reader runs on
 * the connection's own thread (MHD_USE_THREAD_PER_CONNECTION) and blocks on
 * the ring's condition variable; it writes
 *   id: <run>-<seq>\nevent: update\ndata: <FeedMessage JSON>\n\n
 * per message (run: this run's feed run id, a->feed_run, in decimal; seq
 * starts from 1 at each start, so the run tells one start's ids from
 * another's), and a comment line when idle for S_KEEPALIVE_MS (the daemon
 * closes a connection idle for 5 s). A request with a Last-Event-ID of this
 * run gets every message after it that the ring still holds. Any other
 * Last-Event-ID gets
 *   event: reload\ndata: {}\n\n
 * and then the messages from now on (the client reads /api/v1/indicators and
 * /api/v1/boroughs again): one of this run further behind than the ring (or
 * ahead of it), one of another run (the aggregator restarted), a bare number
 * (an aggregator from before run ids) or one that does not parse. An entry
 * that cannot be rendered (out of memory: its copy at the push, the unpack or
 * the dump) is not sent: the connection gets `event: reload` in its place
 * and carries on after it (the next connection tries the entry again). At most
 * S_MAX_CLIENTS streams at once (503 past them), so ordinary requests keep
 * their share of the connection limit. A
 * reader waits at most S_WAIT_MS at a time and ends its stream when the
 * aggregator is stopping, so MHD_stop_daemon never waits for a client.
 *
 * It owns the ring and the connections' state; it reads nothing of the store. */
#include "aggregator.h"
#include "codec.h"
#include "json.h"
#include "reply.h"

#include "crrmon/v1/feed.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_CLIENTS CRR_HTTP_STREAMS /* SSE connections at once (aggregator.h) */
#define S_WAIT_MS 250                  /* a reader checks for a stop this often */
#define S_KEEPALIVE_MS 2000            /* a comment after this long without a message */
#define S_BLOCK 32768                  /* bytes MHD asks for at a time */

/* One message of the ring. */
typedef struct {
    uint8_t *pb;  /* the packed FeedMessage (pblen bytes; room for pbcap) */
    size_t pblen; /* 0: none (never pushed, or the copy failed) */
    size_t pbcap; /* kept across pushes: the slot's buffer is reused */
    char *json;   /* its JSON, rendered on first need, or NULL */
} s_entry_t;

struct crr_stream {
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* broadcast on each push */
    uint64_t last;      /* seq of the last message pushed, 0 = none */
    uint64_t ring;      /* entries in ent ([http] stream_replay) */
    s_entry_t *ent;     /* message seq at seq % ring */
    int clients;        /* open streams */
};

/* One SSE connection (its MHD thread only). */
typedef struct {
    crr_aggregator_t *a;
    uint64_t next; /* the next seq to send */
    int reload;    /* send `event: reload` first */
    int hello;     /* the retry line is sent */
    char *pend;    /* an event that did not fit MHD's buffer, being copied out */
    size_t plen, poff;
} s_conn_t;

int crr_stream_init(crr_aggregator_t *a)
{
    crr_stream_t *s = calloc(1, sizeof *s);
    uint64_t ring = a->cfg.http_stream_replay > 0 ? (uint64_t)a->cfg.http_stream_replay : 16384;
    if (s)
        s->ent = calloc(ring, sizeof *s->ent);
    if (!s || !s->ent) {
        free(s);
        return -ENOMEM;
    }
    s->ring = ring;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    a->stream = s;
    return 0;
}

void crr_stream_push(crr_aggregator_t *a, uint64_t seq, const uint8_t *data, size_t len)
{
    crr_stream_t *s = a->stream;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s_entry_t *e = &s->ent[seq % s->ring];
    free(e->json);
    e->json = NULL;
    e->pblen = 0;
    if (len > e->pbcap) {
        uint8_t *pb = realloc(e->pb, len);
        if (pb) {
            e->pb = pb;
            e->pbcap = len;
        }
    }
    if (len <= e->pbcap && len) {
        memcpy(e->pb, data, len);
        e->pblen = len;
    }
    s->last = seq;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void crr_stream_free(crr_aggregator_t *a)
{
    crr_stream_t *s = a->stream;
    if (!s)
        return;
    for (size_t i = 0; i < s->ring; i++) {
        free(s->ent[i].pb);
        free(s->ent[i].json);
    }
    free(s->ent);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    a->stream = NULL;
}

/* The JSON of entry e (s->mu held): rendered from its packed bytes on the
 * first call and kept. NULL when it has none or cannot be rendered now (out
 * of memory: tried again at the next call). */
static const char *s_json(s_entry_t *e)
{
    if (e->json || !e->pblen)
        return e->json;
    ProtobufCMessage *m = NULL;
    if (crr_codec_unpack(&crrmon__v1__feed_message__descriptor, e->pb, e->pblen, e->pblen, &m))
        return NULL;
    e->json = crr_json_dumps(m, 0);
    crr_codec_free(m);
    return e->json;
}

/* The oldest seq the ring holds (s->mu held). */
static uint64_t s_first(const crr_stream_t *s)
{
    return s->last >= s->ring ? s->last - s->ring + 1 : 1;
}

/* Copies text (len bytes) into buf at *used (room max); what does not fit
 * goes to k->pend when nothing else is in buf. Returns 1 when taken. */
static int s_put(s_conn_t *k, char *buf, size_t max, size_t *used, const char *text, size_t len)
{
    if (*used + len <= max) {
        memcpy(buf + *used, text, len);
        *used += len;
        return 1;
    }
    if (*used)
        return 0;
    k->pend = malloc(len);
    if (!k->pend)
        return 0;
    memcpy(k->pend, text, len);
    k->plen = len;
    k->poff = 0;
    return 1;
}

/* Writes what is due into buf (s->mu held): the reload event, then messages
 * from k->next while they fit. Returns the bytes written. */
static size_t s_fill(crr_stream_t *s, s_conn_t *k, char *buf, size_t max)
{
    size_t used = 0;
    char head[96];
    if (k->next <= s->last && k->next < s_first(s)) {
        k->reload = 1; /* fell out of the ring while connected */
        k->next = s->last + 1;
    }
    if (k->reload) {
        static const char ev[] = "event: reload\ndata: {}\n\n";
        if (!s_put(k, buf, max, &used, ev, sizeof ev - 1))
            return used;
        k->reload = 0;
    }
    while (k->next <= s->last && !k->pend) {
        const char *json = s_json(&s->ent[k->next % s->ring]);
        if (!json) { /* cannot be rendered (out of memory): a reload in its place */
            k->reload = 1;
            k->next++;
            break;
        }
        int hl =
            snprintf(head, sizeof head,
                     "id: %" PRIu64 "-%" PRIu64 "\nevent: update\ndata: ", k->a->feed_run, k->next);
        size_t jl = strlen(json), len = (size_t)hl + jl + 2;
        if (used + len > max && used)
            break;
        char *ev = malloc(len);
        if (!ev)
            break;
        memcpy(ev, head, (size_t)hl);
        memcpy(ev + hl, json, jl);
        memcpy(ev + hl + jl, "\n\n", 2);
        int taken = s_put(k, buf, max, &used, ev, len);
        free(ev);
        if (!taken)
            break;
        k->next++;
    }
    return used;
}

static ssize_t s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_conn_t *k = cls;
    crr_stream_t *s = k->a->stream;
    if (k->pend) { /* the rest of an event larger than MHD's buffer */
        size_t n = k->plen - k->poff < max ? k->plen - k->poff : max;
        memcpy(buf, k->pend + k->poff, n);
        k->poff += n;
        if (k->poff == k->plen) {
            free(k->pend);
            k->pend = NULL;
        }
        return (ssize_t)n;
    }
    if (!k->hello) {
        static const char hello[] = "retry: 2000\n\n";
        k->hello = 1;
        memcpy(buf, hello, sizeof hello - 1);
        return (ssize_t)(sizeof hello - 1);
    }
    size_t used = 0;
    int waited = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (atomic_load(&k->a->stopping)) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        used = s_fill(s, k, buf, max);
        if (used || k->pend)
            break;
        if (waited >= S_KEEPALIVE_MS) {
            static const char ka[] = ": keepalive\n\n";
            memcpy(buf, ka, sizeof ka - 1);
            used = sizeof ka - 1;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += S_WAIT_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            waited += S_WAIT_MS;
    }
    pthread_mutex_unlock(&s->mu);
    if (!used && k->pend)
        return s_read(cls, pos, buf, max);
    return (ssize_t)used;
}

static void s_free(void *cls)
{
    s_conn_t *k = cls;
    crr_stream_t *s = k->a->stream;
    pthread_mutex_lock(&s->mu);
    s->clients--;
    pthread_mutex_unlock(&s->mu);
    free(k->pend);
    free(k);
}

/* Parses the decimal digits of [p, end) into *out: 0, or -1 (none, another
 * character, or past 64 bits). */
static int s_decimal(const char *p, const char *end, uint64_t *out)
{
    uint64_t x = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *out = x;
    return 0;
}

/* Parses a Last-Event-ID value "<run>-<seq>" (this file's ids): 0 when absent
 * or empty, 1 with *run and *seq, -1 when it is something else (a bare
 * number from an aggregator before run ids, or garbage). */
static int s_last_id(const char *v, uint64_t *run, uint64_t *seq)
{
    if (!v || !*v)
        return 0;
    const char *dash = strchr(v, '-');
    if (!dash || s_decimal(v, dash, run) || s_decimal(dash + 1, dash + strlen(dash), seq))
        return -1;
    return 1;
}

int crr_stream_route(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                     const char *method, int *ret)
{
    if (strcmp(url, "/api/v1/stream") != 0)
        return 0;
    crr_stream_t *s = a->stream;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        *ret = crr_reply_405(c, "GET", "use GET");
        return 1;
    }
    s_conn_t *k = s ? calloc(1, sizeof *k) : NULL;
    if (!k) {
        *ret = crr_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no live feed");
        return 1;
    }
    k->a = a;
    uint64_t run = 0, id = 0;
    int have =
        s_last_id(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID"), &run, &id);
    int ours = have == 1 && run == a->feed_run;
    pthread_mutex_lock(&s->mu);
    int full = s->clients >= S_MAX_CLIENTS;
    if (!full) {
        s->clients++;
        k->next = s->last + 1;
        if (ours && id <= s->last && id + 1 >= s_first(s))
            k->next = id + 1; /* replay what the ring holds */
        else if (have && !(ours && id == s->last))
            k->reload = 1; /* another run's id or none we read, too far behind, or ahead */
    }
    pthread_mutex_unlock(&s->mu);
    if (full) {
        free(k);
        *ret = crr_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "too many open streams; try again later");
        return 1;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, S_BLOCK, s_read, k, s_free);
    if (!r) {
        s_free(k);
        *ret = MHD_NO;
        return 1;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    *ret = crr_reply_queue(c, MHD_HTTP_OK, r);
    return 1;
}
