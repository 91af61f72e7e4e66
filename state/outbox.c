/* outbox: delivery records of snapshots (see outbox.h for the layout). Pure
 * LMDB inside the caller's transaction: no threads, no sinks, no clocks. */
#include "outbox.h"

#include "err.h"
#include "lmdbx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEAD 22 /* queued(8) last_try(8) attempts(4) dead(1) idlen(1) */

int crr_outbox_open(MDB_txn *txn, crr_outbox_dbs_t *dbs)
{
    int rc = crr_lmdb_dbi(txn, CRR_OUTBOX_DB, 0, &dbs->outbox);
    if (rc == 0)
        rc = crr_lmdb_dbi(txn, CRR_DELIVERED_DB, 0, &dbs->delivered);
    return rc;
}

uint64_t crr_outbox_seq_of(const char *id)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    return dash ? strtoull(dash + 1, NULL, 10) : 0;
}

/* The outbox key of (sink, seq); returns its length or 0 when sink is too long. */
static size_t s_key(const char *sink, uint64_t seq, uint8_t *buf)
{
    size_t n = strlen(sink);
    if (n == 0 || n >= CRR_OUTBOX_SINK_MAX)
        return 0;
    memcpy(buf, sink, n);
    buf[n] = 0;
    crr_be64_put(buf + n + 1, seq);
    return n + 9;
}

/* The delivered key (id NUL sink); returns its length or 0. */
static size_t s_dkey(const char *id, const char *sink, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%c%s", id, '\0', sink);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static int s_decode(const MDB_val *k, const MDB_val *v, crr_delivery_t *d)
{
    const uint8_t *p = v->mv_data;
    size_t kn = strnlen(k->mv_data, k->mv_size);
    if (v->mv_size < S_HEAD || kn + 9 != k->mv_size || kn >= sizeof d->sink)
        return CRR_EPARSE;
    size_t idn = p[21];
    if (S_HEAD + idn > v->mv_size || idn >= sizeof d->id)
        return CRR_EPARSE;
    memset(d, 0, sizeof *d);
    memcpy(d->sink, k->mv_data, kn);
    d->seq = crr_be64_get((const uint8_t *)k->mv_data + kn + 1);
    d->queued_sec = (int64_t)crr_be64_get(p);
    d->last_try_sec = (int64_t)crr_be64_get(p + 8);
    d->attempts = crr_be32_get(p + 16);
    d->dead = p[20];
    memcpy(d->id, p + S_HEAD, idn);
    size_t en = v->mv_size - S_HEAD - idn;
    if (en >= sizeof d->error)
        en = sizeof d->error - 1;
    memcpy(d->error, p + S_HEAD + idn, en);
    return 0;
}

int crr_outbox_update(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const crr_delivery_t *d)
{
    uint8_t key[CRR_OUTBOX_SINK_MAX + 9], val[S_HEAD + CRR_OUTBOX_ID_MAX + CRR_OUTBOX_ERROR_MAX];
    size_t kn = s_key(d->sink, d->seq, key), idn = strlen(d->id), en = strlen(d->error);
    if (!kn || idn >= CRR_OUTBOX_ID_MAX || en >= CRR_OUTBOX_ERROR_MAX)
        return CRR_EINVAL;
    crr_be64_put(val, (uint64_t)d->queued_sec);
    crr_be64_put(val + 8, (uint64_t)d->last_try_sec);
    crr_be32_put(val + 16, d->attempts);
    val[20] = (uint8_t)(d->dead ? 1 : 0);
    val[21] = (uint8_t)idn;
    memcpy(val + S_HEAD, d->id, idn);
    memcpy(val + S_HEAD + idn, d->error, en);
    MDB_val k = {kn, key}, v = {S_HEAD + idn + en, val};
    return mdb_put(txn, dbs->outbox, &k, &v, 0);
}

int crr_outbox_is_delivered(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                            const char *sink)
{
    char key[CRR_OUTBOX_ID_MAX + CRR_OUTBOX_SINK_MAX + 2];
    MDB_val k = {s_dkey(id, sink, key, sizeof key), key}, v;
    if (!k.mv_size)
        return 0;
    int rc = mdb_get(txn, dbs->delivered, &k, &v);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : rc;
}

int crr_outbox_delivered_where(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                               const char *sink, char *where, size_t len)
{
    char key[CRR_OUTBOX_ID_MAX + CRR_OUTBOX_SINK_MAX + 2];
    MDB_val k = {s_dkey(id, sink, key, sizeof key), key}, v;
    if (len)
        where[0] = '\0';
    if (!k.mv_size)
        return 0;
    int rc = mdb_get(txn, dbs->delivered, &k, &v);
    if (rc == 0 && len)
        snprintf(where, len, "%.*s", (int)(v.mv_size < len ? v.mv_size : len - 1),
                 (const char *)v.mv_data);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : rc;
}

int crr_outbox_find(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id, const char *sink,
                    crr_delivery_t *out)
{
    uint8_t key[CRR_OUTBOX_SINK_MAX + 9];
    MDB_val k = {s_key(sink, crr_outbox_seq_of(id), key), key}, v;
    if (!k.mv_size)
        return 0;
    int rc = mdb_get(txn, dbs->outbox, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc > 0 ? -rc : rc;
    crr_delivery_t d;
    if (s_decode(&k, &v, &d) != 0 || strcmp(d.id, id) != 0)
        return 0;
    if (out)
        *out = d;
    return d.dead ? 2 : 1;
}

int crr_outbox_enqueue(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *id,
                       const char *const *sinks, size_t n, int64_t now_sec)
{
    if (strlen(id) >= CRR_OUTBOX_ID_MAX)
        return CRR_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = crr_outbox_is_delivered(txn, dbs, id, sinks[i]);
        if (rc == 1)
            continue;
        if (rc)
            return rc;
        crr_delivery_t d;
        memset(&d, 0, sizeof d);
        if (strlen(sinks[i]) >= sizeof d.sink)
            return CRR_EINVAL;
        snprintf(d.sink, sizeof d.sink, "%s", sinks[i]);
        snprintf(d.id, sizeof d.id, "%s", id);
        d.seq = crr_outbox_seq_of(id);
        d.queued_sec = now_sec;
        uint8_t key[CRR_OUTBOX_SINK_MAX + 9];
        MDB_val k = {s_key(d.sink, d.seq, key), key}, v;
        if ((rc = mdb_get(txn, dbs->outbox, &k, &v)) == 0)
            continue; /* already queued */
        if (rc != MDB_NOTFOUND || (rc = crr_outbox_update(txn, dbs, &d)) != 0)
            return rc;
    }
    return 0;
}

int crr_outbox_head(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink,
                    crr_delivery_t *out)
{
    uint8_t key[CRR_OUTBOX_SINK_MAX + 9];
    size_t kn = s_key(sink, 0, key);
    if (!kn)
        return MDB_NOTFOUND;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbs->outbox, &cur);
    if (rc)
        return rc;
    MDB_val k = {kn, key}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != kn || memcmp(k.mv_data, key, kn - 8) != 0) {
            rc = MDB_NOTFOUND;
            break;
        }
        if (s_decode(&k, &v, out) == 0 && !out->dead)
            break;
    }
    mdb_cursor_close(cur);
    return rc;
}

int crr_outbox_done(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink, const char *id,
                    const char *where)
{
    uint8_t key[CRR_OUTBOX_SINK_MAX + 9];
    MDB_val k = {s_key(sink, crr_outbox_seq_of(id), key), key};
    int rc = k.mv_size ? mdb_del(txn, dbs->outbox, &k, NULL) : 0;
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    char dkey[CRR_OUTBOX_ID_MAX + CRR_OUTBOX_SINK_MAX + 2];
    size_t wlen = where ? strnlen(where, CRR_OUTBOX_WHERE_MAX - 1) : 0;
    MDB_val dk = {s_dkey(id, sink, dkey, sizeof dkey), dkey},
            dv = {wlen, (void *)(where ? where : "")};
    return dk.mv_size ? mdb_put(txn, dbs->delivered, &dk, &dv, 0) : 0;
}

int crr_outbox_foreach(MDB_txn *txn, const crr_outbox_dbs_t *dbs,
                       int (*fn)(const crr_delivery_t *d, void *ud), void *ud)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbs->outbox, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    crr_delivery_t d;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (s_decode(&k, &v, &d) == 0 && (rc = fn(&d, ud)) != 0)
            break;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct {
    MDB_txn *txn;
    const crr_outbox_dbs_t *dbs;
    const char *sink;
    size_t n;
    crr_delivery_t *dead; /* collected first: a put while the cursor walks is avoided */
    size_t ndead, cap;
} s_retry_t;

static int s_collect_dead(const crr_delivery_t *d, void *ud)
{
    s_retry_t *r = ud;
    if (!d->dead || strcmp(d->sink, r->sink) != 0)
        return 0;
    if (r->ndead == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        crr_delivery_t *p = realloc(r->dead, cap * sizeof *p);
        if (!p)
            return -12; /* -ENOMEM */
        r->dead = p;
        r->cap = cap;
    }
    r->dead[r->ndead++] = *d;
    return 0;
}

int crr_outbox_retry(MDB_txn *txn, const crr_outbox_dbs_t *dbs, const char *sink, size_t *n)
{
    s_retry_t r = {txn, dbs, sink, 0, NULL, 0, 0};
    *n = 0;
    int rc = crr_outbox_foreach(txn, dbs, s_collect_dead, &r);
    for (size_t i = 0; rc == 0 && i < r.ndead; i++) {
        r.dead[i].dead = 0;
        r.dead[i].attempts = 0;
        if ((rc = crr_outbox_update(txn, dbs, &r.dead[i])) == 0)
            (*n)++;
    }
    free(r.dead);
    return rc;
}

typedef struct {
    crr_outbox_sum_t *out;
    size_t max, n;
} s_sum_t;

static int s_sum(const crr_delivery_t *d, void *ud)
{
    s_sum_t *s = ud;
    crr_outbox_sum_t *e = s->n ? &s->out[s->n - 1] : NULL;
    if (!e || strcmp(e->sink, d->sink) != 0) {
        if (s->n == s->max)
            return 0;
        e = &s->out[s->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->sink, sizeof e->sink, "%s", d->sink);
    }
    if (d->dead) {
        e->dead++;
    } else {
        e->pending++;
        if (!e->oldest_sec || d->queued_sec < e->oldest_sec)
            e->oldest_sec = d->queued_sec;
    }
    return 0;
}

int crr_outbox_summary(MDB_txn *txn, const crr_outbox_dbs_t *dbs, crr_outbox_sum_t *out, size_t max,
                       size_t *n)
{
    s_sum_t s = {out, max, 0};
    int rc = crr_outbox_foreach(txn, dbs, s_sum, &s);
    *n = s.n;
    return rc;
}

int crr_outbox_prune(MDB_txn *txn, const crr_outbox_dbs_t *dbs,
                     int (*keep)(const char *id, void *ud), void *ud)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbs->delivered, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    char id[CRR_OUTBOX_ID_MAX + CRR_OUTBOX_SINK_MAX + 2];
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        size_t n = strnlen(k.mv_data, k.mv_size < sizeof id ? k.mv_size : sizeof id - 1);
        memcpy(id, k.mv_data, n);
        id[n] = '\0';
        if (!keep(id, ud) && (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return rc;
    if ((rc = mdb_cursor_open(txn, dbs->outbox, &cur)) != 0)
        return rc;
    crr_delivery_t d;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (s_decode(&k, &v, &d) == 0 && !keep(d.id, ud) && (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
