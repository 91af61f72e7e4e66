/* spool: the collector's durable LMDB spool (see spool.h for the layout).
 *
 * Invariants:
 * - events are keyed by consecutive sequences acked_seq+1 .. next_seq-1 (a
 *   prefix may be missing only between a release and its commit);
 * - meta's counters (next_seq, acked_seq, bytes, count) are written in the
 *   same transaction as the events they describe, so they never drift;
 * - the in-memory counters mirror the open transaction; `c_*` fields hold the
 *   committed values so an abort restores them.
 * Threading: one thread. Does not decide when to stop reading: it refuses
 * with CRR_ESPOOLFULL and the caller stops. */
#include "spool.h"

#include "clock.h"
#include "crashpoint.h"
#include "iofault.h"
#include "lmdbx.h"
#include "log.h"
#include "mem.h"
#include "rejects.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct crr_spool {
    MDB_env *env;            /* the spool environment */
    MDB_txn *wtxn;           /* the open write txn, or NULL */
    MDB_dbi meta;            /* counters and identity */
    MDB_dbi events;          /* seq -> origin header + packed Event */
    MDB_dbi files;           /* file id -> name */
    MDB_dbi file_ids;        /* name -> file id */
    MDB_dbi checkpoints;     /* resume key -> offset, line */
    MDB_dbi rejects;         /* common/rejects.h records */
    char *source_id;         /* owned copy of the source id */
    uint64_t epoch;          /* chosen at creation */
    uint64_t max_bytes;      /* limit on spooled bytes */
    uint64_t next_seq;       /* next sequence (open txn view) */
    uint64_t acked_seq;      /* highest released sequence (open txn view) */
    uint64_t bytes;          /* spooled bytes (open txn view) */
    uint64_t count;          /* spooled events (open txn view) */
    uint64_t c_next_seq;     /* committed next_seq */
    uint64_t c_acked_seq;    /* committed acked_seq */
    uint64_t c_bytes;        /* committed bytes */
    uint64_t c_count;        /* committed count */
    uint32_t next_file_id;   /* next file id to hand out (open txn view) */
    uint32_t c_next_file_id; /* committed next_file_id */
    uint64_t txn_grow;       /* bytes the open txn adds (events, rejects, checkpoints) */
    char last_file[1024];    /* cache: last file name looked up ... */
    uint32_t last_file_id;   /* ... and its id (0 = cache empty) */
};

static int s_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v)
{
    MDB_val k = {strlen(key), (void *)key}, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc)
        return rc;
    if (d.mv_size != 8)
        return MDB_CORRUPTED;
    *v = crr_be64_get(d.mv_data);
    return 0;
}

static int s_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
    uint8_t buf[8];
    crr_be64_put(buf, v);
    MDB_val k = {strlen(key), (void *)key}, d = {8, buf};
    return mdb_put(txn, dbi, &k, &d, 0);
}

static int s_open_dbs(crr_spool_t *s, MDB_txn *txn)
{
    int rc;
    if ((rc = crr_lmdb_dbi(txn, "meta", 0, &s->meta)) ||
        (rc = crr_lmdb_dbi(txn, "events", 0, &s->events)) ||
        (rc = crr_lmdb_dbi(txn, "files", 0, &s->files)) ||
        (rc = crr_lmdb_dbi(txn, "file_ids", 0, &s->file_ids)) ||
        (rc = crr_lmdb_dbi(txn, "checkpoints", 0, &s->checkpoints)) ||
        (rc = crr_lmdb_dbi(txn, CRR_REJECTS_DB, 0, &s->rejects)))
        return rc;
    return 0;
}

/* At open, in the open's write txn: refuses a spool of a newer format;
 * records the version in a new spool and in one written before the key was
 * kept (read as version 1). */
static int s_format_check(crr_spool_t *s, MDB_txn *txn, const char *dir)
{
    MDB_val k = {sizeof CRR_SPOOL_META_FORMAT - 1, CRR_SPOOL_META_FORMAT}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size != 4) {
        CRR_ERROR("spool %s: its format version is %zu bytes, not 4: the spool is damaged", dir,
                  v.mv_size);
        return MDB_CORRUPTED;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint32_t version = rc == 0 ? crr_be32_get(v.mv_data) : 1;
    if (version > CRR_SPOOL_FORMAT_VERSION) {
        CRR_ERROR("spool %s was written by a newer crrmon (on-disk format version %u; this build "
                  "reads up to %u): run that crrmon release or a later one on this data folder",
                  dir, version, CRR_SPOOL_FORMAT_VERSION);
        return CRR_EVERSION;
    }
    if (rc == 0 && version == CRR_SPOOL_FORMAT_VERSION)
        return 0;
    MDB_val id = {9, "source_id"};
    if (mdb_get(txn, s->meta, &id, &v) == 0)
        CRR_INFO("spool %s: format version %u recorded (written before versions were kept)", dir,
                 CRR_SPOOL_FORMAT_VERSION);
    uint8_t b[4];
    crr_be32_put(b, CRR_SPOOL_FORMAT_VERSION);
    v.mv_size = 4;
    v.mv_data = b;
    return mdb_put(txn, s->meta, &k, &v, 0);
}

static int s_load_or_create(crr_spool_t *s, MDB_txn *txn, const char *source_id)
{
    MDB_val k = {9, "source_id"}, d;
    int rc = mdb_get(txn, s->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        /* a new spool: its epoch makes this (source_id, epoch) unique even if
         * an earlier spool of the same id was lost */
        uint64_t epoch = 0;
        while (epoch == 0)
            if (getrandom(&epoch, sizeof epoch, 0) != (ssize_t)sizeof epoch)
                return -errno;
        d.mv_size = strlen(source_id);
        d.mv_data = (void *)source_id;
        if ((rc = mdb_put(txn, s->meta, &k, &d, 0)) ||
            (rc = s_meta_put_u64(txn, s->meta, "epoch", epoch)) ||
            (rc = s_meta_put_u64(txn, s->meta, "next_seq", 1)) ||
            (rc = s_meta_put_u64(txn, s->meta, "acked_seq", 0)) ||
            (rc = s_meta_put_u64(txn, s->meta, "bytes", 0)) ||
            (rc = s_meta_put_u64(txn, s->meta, "count", 0)) ||
            (rc = s_meta_put_u64(txn, s->meta, "next_file_id", 1)))
            return rc;
        CRR_INFO("spool created source=%s epoch=%llu", source_id, (unsigned long long)epoch);
    } else if (rc) {
        return rc;
    } else if (d.mv_size != strlen(source_id) || memcmp(d.mv_data, source_id, d.mv_size) != 0) {
        CRR_ERROR("spool belongs to source '%.*s', not '%s': use that --source-id or another "
                  "--data-dir",
                  (int)d.mv_size, (const char *)d.mv_data, source_id);
        return CRR_ECONFIG;
    }
    uint64_t fid = 1;
    if ((rc = s_meta_get_u64(txn, s->meta, "epoch", &s->epoch)) ||
        (rc = s_meta_get_u64(txn, s->meta, "next_seq", &s->next_seq)) ||
        (rc = s_meta_get_u64(txn, s->meta, "acked_seq", &s->acked_seq)) ||
        (rc = s_meta_get_u64(txn, s->meta, "bytes", &s->bytes)) ||
        (rc = s_meta_get_u64(txn, s->meta, "count", &s->count)) ||
        (rc = s_meta_get_u64(txn, s->meta, "next_file_id", &fid)))
        return rc;
    s->next_file_id = (uint32_t)fid;
    return 0;
}

static void s_snapshot(crr_spool_t *s)
{
    s->c_next_seq = s->next_seq;
    s->c_acked_seq = s->acked_seq;
    s->c_bytes = s->bytes;
    s->c_count = s->count;
    s->c_next_file_id = s->next_file_id;
}

static void s_restore(crr_spool_t *s)
{
    s->next_seq = s->c_next_seq;
    s->acked_seq = s->c_acked_seq;
    s->bytes = s->c_bytes;
    s->count = s->c_count;
    s->next_file_id = s->c_next_file_id;
    s->last_file_id = 0; /* the cached id may belong to the aborted txn */
}

int crr_spool_open(const crr_spool_opts_t *o, crr_spool_t **out)
{
    *out = NULL;
    if (!o || !o->dir || !o->source_id || !*o->source_id || o->max_bytes == 0)
        return CRR_EINVAL;
    crr_spool_t *s = crr_calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    MDB_txn *txn = NULL;
    int rc = -ENOMEM;
    s->max_bytes = o->max_bytes;
    if (!(s->source_id = crr_strdup(o->source_id)))
        goto fail;
    uint64_t map = o->map_size ? o->map_size : o->max_bytes * 3 + (64ull << 20);
    if ((rc = crr_lmdb_open(o->dir, map, 8, 0, &s->env)))
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) || (rc = s_open_dbs(s, txn)) ||
        (rc = s_format_check(s, txn, o->dir)) || (rc = s_load_or_create(s, txn, o->source_id)))
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail;
    s_snapshot(s);
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    crr_spool_close(&s);
    return rc;
}

void crr_spool_close(crr_spool_t **sp)
{
    if (!sp || !*sp)
        return;
    crr_spool_t *s = *sp;
    if (s->wtxn)
        mdb_txn_abort(s->wtxn);
    if (s->env)
        mdb_env_close(s->env);
    free(s->source_id);
    free(s);
    *sp = NULL;
}

const char *crr_spool_source_id(const crr_spool_t *s)
{
    return s->source_id;
}
uint64_t crr_spool_epoch(const crr_spool_t *s)
{
    return s->epoch;
}
uint64_t crr_spool_next_seq(const crr_spool_t *s)
{
    return s->next_seq;
}
uint64_t crr_spool_acked_seq(const crr_spool_t *s)
{
    return s->acked_seq;
}
uint64_t crr_spool_count(const crr_spool_t *s)
{
    return s->count;
}
uint64_t crr_spool_bytes(const crr_spool_t *s)
{
    return s->bytes;
}
uint64_t crr_spool_max_bytes(const crr_spool_t *s)
{
    return s->max_bytes;
}
MDB_env *crr_spool_env(const crr_spool_t *s)
{
    return s->env;
}
int crr_spool_is_open(const crr_spool_t *s)
{
    return s->wtxn != NULL;
}

int crr_spool_begin(crr_spool_t *s)
{
    if (s->wtxn)
        return CRR_EINVAL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn);
    if (rc) {
        s->wtxn = NULL;
        return rc;
    }
    s_snapshot(s);
    s->txn_grow = 0;
    return 0;
}

/* Bytes of LMDB pages a txn adding `bytes` of records may need: pages are
 * filled in key order (MDB_APPEND), plus branch pages and the meta db. */
static uint64_t s_pages_for(uint64_t bytes)
{
    return bytes + bytes / 4 + 8 * 4096;
}

int crr_spool_commit(crr_spool_t *s)
{
    if (!s->wtxn)
        return CRR_EINVAL;
    MDB_txn *txn = s->wtxn;
    s->wtxn = NULL;
    int rc;
    if ((rc = s_meta_put_u64(txn, s->meta, "next_seq", s->next_seq)) ||
        (rc = s_meta_put_u64(txn, s->meta, "acked_seq", s->acked_seq)) ||
        (rc = s_meta_put_u64(txn, s->meta, "bytes", s->bytes)) ||
        (rc = s_meta_put_u64(txn, s->meta, "count", s->count)) ||
        (rc = s_meta_put_u64(txn, s->meta, "next_file_id", s->next_file_id))) {
        mdb_txn_abort(txn);
        s_restore(s);
        return rc;
    }
    /* a txn that grows the spool leaves LMDB's reserve to releases */
    if (s->txn_grow && (rc = crr_lmdb_headroom(s->env, s_pages_for(s->txn_grow)))) {
        mdb_txn_abort(txn);
        s_restore(s);
        return rc;
    }
    crr_crashpoint("spool_commit"); /* the whole txn is lost, as in a crash here */
    if ((rc = crr_iofault_commit(txn, "spool_commit"))) { /* EIO when a test arms it */
        s_restore(s);
        return rc;
    }
    s_snapshot(s);
    return 0;
}

void crr_spool_abort(crr_spool_t *s)
{
    if (!s->wtxn)
        return;
    mdb_txn_abort(s->wtxn);
    s->wtxn = NULL;
    s_restore(s);
}

/* The id of file name (creating one inside the write txn when new). */
static int s_file_id(crr_spool_t *s, const char *name, uint32_t *id)
{
    size_t n = strlen(name);
    if (s->last_file_id && strcmp(s->last_file, name) == 0) {
        *id = s->last_file_id;
        return 0;
    }
    MDB_val k = {n, (void *)name}, d;
    int rc = mdb_get(s->wtxn, s->file_ids, &k, &d);
    if (rc == 0 && d.mv_size == 4) {
        *id = crr_be32_get(d.mv_data);
    } else if (rc == MDB_NOTFOUND) {
        uint8_t b[4];
        *id = s->next_file_id++;
        crr_be32_put(b, *id);
        MDB_val idv = {4, b}, namev = {n, (void *)name};
        if ((rc = mdb_put(s->wtxn, s->file_ids, &k, &idv, 0)) ||
            (rc = mdb_put(s->wtxn, s->files, &idv, &namev, 0)))
            return rc;
    } else {
        return rc ? rc : MDB_CORRUPTED;
    }
    if (n < sizeof s->last_file) {
        memcpy(s->last_file, name, n + 1);
        s->last_file_id = *id;
    }
    return 0;
}

int crr_spool_append(crr_spool_t *s, Crrmon__V1__Event *e, const char *file, uint64_t line,
                     uint64_t *seq)
{
    if (!s->wtxn || !e)
        return CRR_EINVAL;
    uint64_t q = s->next_seq;
    char *old_source = e->source_id;
    e->source_id = s->source_id;
    e->seq = q;
    size_t packed = protobuf_c_message_get_packed_size(&e->base);
    size_t need = CRR_SPOOL_EVENT_HDR + packed;
    int rc = 0;
    if (s->bytes + need > s->max_bytes) {
        rc = CRR_ESPOOLFULL;
        goto done;
    }
    uint32_t fid = 0;
    if (file && *file && (rc = s_file_id(s, file, &fid)))
        goto done;
    uint8_t key[8];
    crr_be64_put(key, q);
    MDB_val k = {8, key}, d = {need, NULL};
    /* MDB_RESERVE: pack straight into the page instead of a temporary buffer */
    if ((rc = mdb_put(s->wtxn, s->events, &k, &d, MDB_APPEND | MDB_RESERVE)))
        goto done;
    uint8_t *p = d.mv_data;
    crr_be32_put(p, fid);
    crr_be64_put(p + 4, line);
    protobuf_c_message_pack(&e->base, p + CRR_SPOOL_EVENT_HDR);
    s->next_seq = q + 1;
    s->txn_grow += need + 16;
    s->bytes += need;
    s->count++;
    if (seq)
        *seq = q;
done:
    e->source_id = old_source;
    return rc;
}

int crr_spool_reject(crr_spool_t *s, const crr_diag_t *d, uint64_t seq, const char *raw)
{
    if (!s->wtxn)
        return CRR_EINVAL;
    crr_reject_t r = {
        .at_sec = crr_clock_now_sec(),
        .source_id = s->source_id,
        .epoch = s->epoch,
        .seq = seq,
        .diag = d,
        .raw = raw,
    };
    if (seq == 0) /* an aggregator's rejection (seq set) comes before a release: reserve */
        s->txn_grow += 512 + (raw ? strlen(raw) : 0);
    return crr_rejects_put(s->wtxn, s->rejects, &r);
}

/* Checkpoint value sizes: without identity (older spools) and with it. */
#define S_CKPT_OLD 16
#define S_CKPT_LEN 44

int crr_spool_checkpoint_set(crr_spool_t *s, const char *key, const crr_spool_ckpt_t *cp)
{
    if (!s->wtxn || !key || !*key || !cp)
        return CRR_EINVAL;
    uint8_t v[S_CKPT_LEN];
    crr_be64_put(v, cp->offset);
    crr_be64_put(v + 8, cp->line);
    crr_be64_put(v + 16, cp->dev);
    crr_be64_put(v + 24, cp->ino);
    crr_be32_put(v + 32, cp->fp_len);
    crr_be64_put(v + 36, cp->fp_hash);
    MDB_val k = {strlen(key), (void *)key}, d = {cp->has_identity ? S_CKPT_LEN : S_CKPT_OLD, v};
    s->txn_grow += 64 + k.mv_size;
    return mdb_put(s->wtxn, s->checkpoints, &k, &d, 0);
}

int crr_spool_checkpoint_del(crr_spool_t *s, const char *key)
{
    if (!s->wtxn || !key || !*key)
        return CRR_EINVAL;
    MDB_val k = {strlen(key), (void *)key};
    int rc = mdb_del(s->wtxn, s->checkpoints, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A txn to read with: the open write txn, or a new read-only one (*own set). */
static int s_read_txn(crr_spool_t *s, MDB_txn **txn, int *own)
{
    *own = 0;
    if (s->wtxn) {
        *txn = s->wtxn;
        return 0;
    }
    *own = 1;
    return mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
}

/* Decodes a checkpoint value of either size. */
static int s_ckpt_decode(const MDB_val *d, crr_spool_ckpt_t *cp)
{
    const uint8_t *p = d->mv_data;
    if (d->mv_size != S_CKPT_OLD && d->mv_size != S_CKPT_LEN)
        return MDB_CORRUPTED;
    memset(cp, 0, sizeof *cp);
    cp->offset = crr_be64_get(p);
    cp->line = crr_be64_get(p + 8);
    if (d->mv_size == S_CKPT_LEN) {
        cp->has_identity = 1;
        cp->dev = crr_be64_get(p + 16);
        cp->ino = crr_be64_get(p + 24);
        cp->fp_len = crr_be32_get(p + 32);
        cp->fp_hash = crr_be64_get(p + 36);
    }
    return 0;
}

int crr_spool_checkpoint_get(crr_spool_t *s, const char *key, crr_spool_ckpt_t *cp)
{
    MDB_txn *txn;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    MDB_val k = {strlen(key), (void *)key}, d;
    rc = mdb_get(txn, s->checkpoints, &k, &d);
    if (rc == 0)
        rc = s_ckpt_decode(&d, cp);
    else if (rc == MDB_NOTFOUND)
        rc = CRR_ENOTFOUND;
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

/* Calls fn(ud, key, value) for each entry of dbi whose key begins with
 * prefix[0..pl), in key order, in a read transaction (or the open write
 * one); stops at fn's first non-zero answer and returns it. Returns 0 or an
 * LMDB code. */
static int s_prefix_walk(crr_spool_t *s, MDB_dbi dbi, const char *prefix, size_t pl,
                         int (*fn)(void *ud, const MDB_val *k, const MDB_val *v), void *ud)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    MDB_val k = {pl, (void *)prefix}, d;
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &d, pl ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && k.mv_size >= pl && memcmp(k.mv_data, prefix, pl) == 0) {
        if ((rc = fn(ud, &k, &d)) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0; /* past the last key */
    if (cur)
        mdb_cursor_close(cur);
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

typedef struct {
    int (*fn)(void *ud, const char *key, const crr_spool_ckpt_t *cp);
    void *ud;
} s_ckpt_walk_t;

static int s_ckpt_entry(void *ud, const MDB_val *k, const MDB_val *d)
{
    s_ckpt_walk_t *w = ud;
    char key[PATH_MAX];
    crr_spool_ckpt_t cp;
    if (k->mv_size >= sizeof key)
        return 0;
    memcpy(key, k->mv_data, k->mv_size);
    key[k->mv_size] = '\0';
    int rc = s_ckpt_decode(d, &cp);
    return rc ? rc : w->fn(w->ud, key, &cp);
}

int crr_spool_checkpoint_foreach(crr_spool_t *s, const char *prefix,
                                 int (*fn)(void *ud, const char *key, const crr_spool_ckpt_t *cp),
                                 void *ud)
{
    s_ckpt_walk_t w = {fn, ud};
    return s_prefix_walk(s, s->checkpoints, prefix, strlen(prefix), s_ckpt_entry, &w);
}

int crr_spool_release(crr_spool_t *s, uint64_t durable_seq, uint64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (durable_seq <= s->acked_seq)
        return 0;
    if (durable_seq >= s->next_seq) {
        /* never release (or renumber past) what was not handed out: the
         * sender refuses such Acks; this keeps the spool safe on its own */
        CRR_ERROR("spool: refusing to release up to seq=%llu: the highest seq spooled is %llu",
                  (unsigned long long)durable_seq, (unsigned long long)(s->next_seq - 1));
        return CRR_EINVAL;
    }
    int own = 0, rc;
    if (!s->wtxn) {
        if ((rc = crr_spool_begin(s)))
            return rc;
        own = 1;
    }
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(s->wtxn, s->events, &cur)))
        goto fail;
    MDB_val k, d;
    uint64_t n = 0;
    while ((rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST)) == 0) {
        if (k.mv_size != 8 || crr_be64_get(k.mv_data) > durable_seq)
            break;
        size_t sz = d.mv_size;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        s->bytes -= sz < s->bytes ? sz : s->bytes;
        if (s->count)
            s->count--;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        goto fail;
    s->acked_seq = durable_seq;
    if (own && (rc = crr_spool_commit(s)))
        return rc;
    if (deleted)
        *deleted = n;
    return 0;
fail:
    if (own)
        crr_spool_abort(s);
    return rc;
}

int crr_spool_fetch(crr_spool_t *s, uint64_t from_seq,
                    int (*fn)(void *ud, uint64_t seq, const uint8_t *ev, size_t len), void *ud)
{
    MDB_txn *txn;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, s->events, &cur)))
        goto done;
    uint8_t key[8];
    crr_be64_put(key, from_seq);
    MDB_val k = {8, key}, d;
    MDB_cursor_op op = MDB_SET_RANGE;
    while ((rc = mdb_cursor_get(cur, &k, &d, op)) == 0) {
        op = MDB_NEXT;
        if (k.mv_size != 8 || d.mv_size < CRR_SPOOL_EVENT_HDR) {
            rc = MDB_CORRUPTED;
            break;
        }
        int r = fn(ud, crr_be64_get(k.mv_data), (const uint8_t *)d.mv_data + CRR_SPOOL_EVENT_HDR,
                   d.mv_size - CRR_SPOOL_EVENT_HDR);
        if (r) {
            rc = r > 0 ? 0 : r;
            break;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
done:
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int crr_spool_origin(crr_spool_t *s, uint64_t seq, char *file, size_t cap, uint64_t *line,
                     Crrmon__V1__Event **ev)
{
    if (ev)
        *ev = NULL;
    if (cap)
        file[0] = '\0';
    *line = 0;
    MDB_txn *txn;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    uint8_t key[8];
    crr_be64_put(key, seq);
    MDB_val k = {8, key}, d;
    rc = mdb_get(txn, s->events, &k, &d);
    if (rc == MDB_NOTFOUND) {
        rc = CRR_ENOTFOUND;
        goto done;
    }
    if (rc)
        goto done;
    if (d.mv_size < CRR_SPOOL_EVENT_HDR) {
        rc = MDB_CORRUPTED;
        goto done;
    }
    const uint8_t *p = d.mv_data;
    uint32_t fid = crr_be32_get(p);
    *line = crr_be64_get(p + 4);
    if (fid && cap) {
        uint8_t fk[4];
        crr_be32_put(fk, fid);
        MDB_val fkv = {4, fk}, name;
        if (mdb_get(txn, s->files, &fkv, &name) == 0) {
            size_t n = name.mv_size < cap - 1 ? name.mv_size : cap - 1;
            memcpy(file, name.mv_data, n);
            file[n] = '\0';
        }
    }
    if (ev)
        rc = crr_codec_unpack_event(p + CRR_SPOOL_EVENT_HDR, d.mv_size - CRR_SPOOL_EVENT_HDR,
                                    d.mv_size, ev);
done:
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int crr_spool_rejects_count(crr_spool_t *s, uint64_t *n)
{
    MDB_txn *txn;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    *n = crr_rejects_count(txn, s->rejects);
    if (own)
        mdb_txn_abort(txn);
    return 0;
}

int crr_spool_rejects_next_id(crr_spool_t *s, uint64_t *id)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    *id = 1;
    if ((rc = mdb_cursor_open(txn, s->rejects, &cur)) == 0) {
        MDB_val k, v;
        if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            *id = crr_be64_get(k.mv_data) + 1; /* as crr_rejects_put numbers them */
        mdb_cursor_close(cur);
    }
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int crr_spool_rejects_foreach(crr_spool_t *s, uint64_t from_id,
                              int (*fn)(const char *json, size_t len, void *ud), void *ud)
{
    MDB_txn *txn;
    int own, rc;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    rc = crr_rejects_foreach(txn, s->rejects, from_id, fn, ud);
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

/* The meta key of mark name: "mark:" + name. 0 or CRR_EINVAL (too long). */
static int s_mark_key(const char *name, char *buf, size_t cap, MDB_val *k)
{
    int n = snprintf(buf, cap, "mark:%s", name ? name : "");
    if (!name || !*name || n < 0 || (size_t)n >= cap || n > 500)
        return CRR_EINVAL;
    *k = (MDB_val){(size_t)n, buf};
    return 0;
}

int crr_spool_mark_set(crr_spool_t *s, const char *name, uint64_t value)
{
    char buf[4200];
    MDB_val k, v;
    uint8_t b[8];
    if (!s->wtxn || s_mark_key(name, buf, sizeof buf, &k))
        return CRR_EINVAL;
    crr_be64_put(b, value);
    v = (MDB_val){8, b};
    s->txn_grow += 64 + k.mv_size;
    return mdb_put(s->wtxn, s->meta, &k, &v, 0);
}

int crr_spool_mark_get(crr_spool_t *s, const char *name, uint64_t *value)
{
    char buf[4200];
    MDB_val k, v;
    MDB_txn *txn;
    int own, rc;
    if (s_mark_key(name, buf, sizeof buf, &k))
        return CRR_EINVAL;
    if ((rc = s_read_txn(s, &txn, &own)))
        return rc;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *value = crr_be64_get(v.mv_data);
    else if (rc == 0 || rc == MDB_NOTFOUND)
        rc = CRR_ENOTFOUND;
    if (own)
        mdb_txn_abort(txn);
    return rc;
}

int crr_spool_mark_del(crr_spool_t *s, const char *name)
{
    char buf[4200];
    MDB_val k;
    if (!s->wtxn || s_mark_key(name, buf, sizeof buf, &k))
        return CRR_EINVAL;
    int rc = mdb_del(s->wtxn, s->meta, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

typedef struct {
    int (*fn)(void *ud, const char *name, uint64_t value);
    void *ud;
} s_mark_walk_t;

static int s_mark_entry(void *ud, const MDB_val *k, const MDB_val *d)
{
    s_mark_walk_t *w = ud;
    char name[4200];
    size_t nl = k->mv_size - 5; /* after "mark:" */
    if (d->mv_size != 8 || nl >= sizeof name)
        return 0;
    memcpy(name, (const char *)k->mv_data + 5, nl);
    name[nl] = '\0';
    return w->fn(w->ud, name, crr_be64_get(d->mv_data));
}

int crr_spool_mark_foreach(crr_spool_t *s, const char *prefix,
                           int (*fn)(void *ud, const char *name, uint64_t value), void *ud)
{
    char buf[4200];
    int n = snprintf(buf, sizeof buf, "mark:%s", prefix ? prefix : "");
    if (n < 0 || (size_t)n >= sizeof buf)
        return CRR_EINVAL;
    s_mark_walk_t w = {fn, ud};
    return s_prefix_walk(s, s->meta, buf, (size_t)n, s_mark_entry, &w);
}

/* Moves event q to key q - shift with its packed seq rewritten, inside the
 * open txn. Returns 0 or an error. */
static int s_renumber_one(crr_spool_t *s, uint64_t q, uint64_t shift)
{
    uint8_t key[8];
    crr_be64_put(key, q);
    MDB_val k = {8, key}, d;
    int rc = mdb_get(s->wtxn, s->events, &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (d.mv_size < CRR_SPOOL_EVENT_HDR)
        return MDB_CORRUPTED;
    uint8_t hdr[CRR_SPOOL_EVENT_HDR];
    memcpy(hdr, d.mv_data, sizeof hdr);
    Crrmon__V1__Event *e = NULL;
    const uint8_t *p = d.mv_data;
    if ((rc = crr_codec_unpack_event(p + CRR_SPOOL_EVENT_HDR, d.mv_size - CRR_SPOOL_EVENT_HDR,
                                     d.mv_size, &e)))
        return rc;
    size_t old_size = d.mv_size;
    e->seq = q - shift;
    size_t need = CRR_SPOOL_EVENT_HDR + protobuf_c_message_get_packed_size(&e->base);
    if ((rc = mdb_del(s->wtxn, s->events, &k, NULL)) == 0) {
        crr_be64_put(key, q - shift);
        d = (MDB_val){need, NULL};
        if ((rc = mdb_put(s->wtxn, s->events, &k, &d, MDB_RESERVE)) == 0) {
            memcpy(d.mv_data, hdr, sizeof hdr);
            protobuf_c_message_pack(&e->base, (uint8_t *)d.mv_data + CRR_SPOOL_EVENT_HDR);
            s->bytes = s->bytes - (old_size < s->bytes ? old_size : s->bytes) + need;
        }
    }
    crr_codec_free(&e->base);
    return rc;
}

int crr_spool_new_epoch(crr_spool_t *s, uint64_t *old_epoch)
{
    if (s->wtxn)
        return CRR_EINVAL;
    uint64_t epoch = 0;
    while (epoch == 0 || epoch == s->epoch)
        if (getrandom(&epoch, sizeof epoch, 0) != (ssize_t)sizeof epoch)
            return -errno;
    int rc = crr_spool_begin(s);
    if (rc)
        return rc;
    uint64_t shift = s->acked_seq;
    /* ascending: key q - shift is free once every lower event has moved */
    for (uint64_t q = shift + 1; q < s->next_seq && rc == 0; q++)
        rc = s_renumber_one(s, q, shift);
    if (rc == 0)
        rc = s_meta_put_u64(s->wtxn, s->meta, "epoch", epoch);
    if (rc) {
        crr_spool_abort(s);
        return rc;
    }
    s->next_seq -= shift;
    s->acked_seq = 0;
    if ((rc = crr_spool_commit(s)))
        return rc;
    uint64_t prev = s->epoch;
    s->epoch = epoch;
    if (old_epoch)
        *old_epoch = prev;
    CRR_INFO("spool: new epoch=%llu (was %llu): %llu waiting event(s) renumbered from seq 1",
             (unsigned long long)epoch, (unsigned long long)prev, (unsigned long long)s->count);
    return 0;
}
