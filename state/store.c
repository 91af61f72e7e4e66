/* store: the aggregator's LMDB state (layout in store.h and store_int.h).
 *
 * Apply path (the hot path): one write transaction per group. First every
 * bucket the group's valid events will touch is noted in the bucket table
 * (buckets.h) and their stored sums read in key order by one walking cursor;
 * then each event is added to its buckets in arrival order, with one
 * mdb_put(MDB_NOOVERWRITE) per event that carries a record_id (that single
 * call both tests and reserves the id) and its resend hash put through a
 * cursor; last the buckets written back in key order. The table, its metric
 * arena and the source cache live in the store handle and are reused, so
 * steady state does no malloc per event.
 *
 * Invariants: a source's applied_seq is written in the same transaction as
 * the aggregates it covers; any LMDB error aborts the transaction and resets
 * every job's outputs, so a failed call changes nothing. Commits are durable
 * (the env is never opened MDB_NOSYNC / MDB_NOMETASYNC).
 *
 * Threading: one writer thread (apply, reject_frame, prune, snapshot_take);
 * read functions open their own read transactions (MDB_NOTLS env) and may run
 * on other threads. Does not do the wire protocol or the Acks themselves. */
#include "store.h"
#include "store_int.h"

#include "accumulate.h"
#include "boroughs.h"
#include "buckets.h"
#include "clock.h"
#include "codec.h"
#include "iofault.h"
#include "json.h"
#include "lmdbx.h"
#include "mem.h"
#include "refdata.h"
#include "rejects.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- layout helpers ---------------------------------------------------- */

void crr_store_agg_key(uint8_t key[CRR_AGG_KEY], unsigned borough, unsigned fam, int64_t day,
                       const uint8_t cell[CRR_AGG_CELL])
{
    key[0] = (uint8_t)borough;
    key[1] = (uint8_t)fam;
    crr_be32_put(key + 2, (uint32_t)(day + (int64_t)CRR_DAY_BIAS));
    if (cell)
        memcpy(key + 6, cell, CRR_AGG_CELL);
    else
        memset(key + 6, 0, CRR_AGG_CELL);
}

const char *crr_store_name_get(crr_store_t *s, MDB_txn *txn, uint64_t h, size_t *len)
{
    uint8_t k[8];
    crr_be64_put(k, h);
    MDB_val key = {8, k}, val;
    if (mdb_get(txn, s->db_names, &key, &val) != 0)
        return NULL;
    *len = val.mv_size;
    return val.mv_data;
}

/* ---- first seen (coverage) ------------------------------------------------ */

/* One first-seen instant; the table is [borough][type]. */
typedef struct s_fs {
    int64_t sec;   /* occurred_at seconds */
    int32_t nanos; /* occurred_at nanos */
    uint8_t state; /* S_FS_* */
} s_fs_t;

enum { S_FS_UNKNOWN, S_FS_NONE, S_FS_KNOWN, S_FCRR_BK_DIRTY };

struct crr_first_seen {
    s_fs_t t[CRR_BOROUGHS][CRR_TYPE_COUNT + 1];
};

static void s_fs_key(uint8_t k[3], unsigned b, unsigned type)
{
    k[0] = CRR_META_FIRST_SEEN;
    k[1] = (uint8_t)b;
    k[2] = (uint8_t)type;
}

static int s_fs_earlier(int64_t sec, int32_t nanos, const s_fs_t *x)
{
    return sec < x->sec || (sec == x->sec && nanos < x->nanos);
}

int crr_store_first_seen(crr_store_t *s, MDB_txn *txn, unsigned b, unsigned type, int64_t *sec,
                         int32_t *nanos)
{
    if (b >= CRR_BOROUGHS || type < 1 || type > CRR_TYPE_COUNT)
        return MDB_NOTFOUND;
    if (s->fs_mem) {
        const s_fs_t *x = &s->fs_mem->t[b][type];
        if (x->state == S_FS_NONE || x->state == S_FS_UNKNOWN)
            return MDB_NOTFOUND;
        *sec = x->sec;
        *nanos = x->nanos;
        return 0;
    }
    uint8_t k[3];
    s_fs_key(k, b, type);
    MDB_val key = {3, k}, val;
    int rc = mdb_get(txn, s->db_meta, &key, &val);
    if (rc)
        return rc;
    if (val.mv_size != 12)
        return MDB_NOTFOUND;
    *sec = (int64_t)(crr_be64_get(val.mv_data) ^ (1ULL << 63));
    *nanos = (int32_t)crr_be32_get((const uint8_t *)val.mv_data + 8);
    return 0;
}

/* Notes that an event of type in borough b occurred at (sec, nanos): loads the
 * stored instant the first time this call meets (b, type), keeps the earlier. */
static int s_fs_note(crr_store_t *s, MDB_txn *txn, struct crr_first_seen *fs, unsigned b,
                     unsigned type, int64_t sec, int32_t nanos)
{
    s_fs_t *x = &fs->t[b][type];
    if (x->state == S_FS_UNKNOWN) {
        int rc = crr_store_first_seen(s, txn, b, type, &x->sec, &x->nanos);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        x->state = rc ? S_FS_NONE : S_FS_KNOWN;
    }
    if (x->state == S_FS_NONE || s_fs_earlier(sec, nanos, x)) {
        x->sec = sec;
        x->nanos = nanos;
        x->state = S_FCRR_BK_DIRTY;
    }
    return 0;
}

/* Writes the instants that moved earlier (or appeared) into meta. */
static int s_fs_flush(crr_store_t *s, MDB_txn *txn, const struct crr_first_seen *fs)
{
    for (unsigned b = 0; b < CRR_BOROUGHS; b++)
        for (unsigned t = 1; t <= CRR_TYPE_COUNT; t++) {
            const s_fs_t *x = &fs->t[b][t];
            if (x->state != S_FCRR_BK_DIRTY)
                continue;
            uint8_t k[3], v[12];
            s_fs_key(k, b, t);
            crr_be64_put(v, (uint64_t)x->sec ^ (1ULL << 63));
            crr_be32_put(v + 8, (uint32_t)x->nanos);
            MDB_val key = {3, k}, val = {12, v};
            int rc = mdb_put(txn, s->db_meta, &key, &val, 0);
            if (rc)
                return rc;
        }
    return 0;
}

/* Format 1 -> 2: first-seen instants from the retained state (store.h says
 * how, and what it cannot know). Fills fs with S_FCRR_BK_DIRTY entries. */
static int s_fs_derive(crr_store_t *s, MDB_txn *txn, struct crr_first_seen *fs)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->db_agg, &cur);
    if (rc)
        return rc;
    for (unsigned b = 0; b < CRR_BOROUGHS && !rc; b++)
        for (unsigned f = 1; f < CRR_FAM_COUNT && !rc; f++) {
            unsigned type = crr_fam_type(f);
            if (!type)
                continue; /* pipeline buckets are by arrival day */
            uint8_t start[CRR_AGG_KEY];
            crr_store_agg_key(start, b, f, -(int64_t)CRR_DAY_BIAS, NULL);
            MDB_val k = {CRR_AGG_KEY, start}, v;
            for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                const uint8_t *p = k.mv_data;
                if (k.mv_size != CRR_AGG_KEY || p[0] != b || p[1] != f)
                    break;
                double n0;
                if (v.mv_size < sizeof n0)
                    continue;
                memcpy(&n0, v.mv_data, sizeof n0);
                if (!(n0 > 0))
                    continue;
                int64_t day = (int64_t)crr_be32_get(p + 2) - (int64_t)CRR_DAY_BIAS;
                if ((rc = s_fs_note(s, txn, fs, b, type, (day + 1) * CRR_SEC_PER_DAY - 1,
                                    999999999)) != 0)
                    break;
                break; /* the earliest day of (b, f) */
            }
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    mdb_cursor_close(cur);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->db_gauge, &cur)) != 0)
        return rc;
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != CRR_GAUGE_KEY || p[0] >= CRR_BOROUGHS)
            continue;
        int64_t sec = (int64_t)(crr_be64_get(p + 2) ^ (1ULL << 63));
        if ((rc = s_fs_note(s, txn, fs, p[0], 6, sec, (int32_t)crr_be32_get(p + 10))) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* At open: checks the format version; migrates a version-1 store (writable:
 * in txn, the open's one write transaction; read-only: in memory). */
static int s_format_check(crr_store_t *s, MDB_txn *txn)
{
    MDB_val k = {sizeof CRR_META_FORMAT - 1, CRR_META_FORMAT}, v;
    int rc = mdb_get(txn, s->db_meta, &k, &v);
    uint32_t version = 1;
    if (rc == 0)
        version = v.mv_size == 4 ? crr_be32_get(v.mv_data) : UINT32_MAX;
    else if (rc != MDB_NOTFOUND)
        return rc;
    if (version > CRR_STORE_FORMAT_VERSION)
        return CRR_EVERSION;
    if (version == CRR_STORE_FORMAT_VERSION)
        return 0;
    struct crr_first_seen *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    if ((rc = s_fs_derive(s, txn, fs)) != 0) {
        free(fs);
        return rc;
    }
    if (s->readonly) {
        s->fs_mem = fs;
        return 0;
    }
    uint8_t v4[4];
    crr_be32_put(v4, CRR_STORE_FORMAT_VERSION);
    v.mv_data = v4;
    v.mv_size = 4;
    if ((rc = s_fs_flush(s, txn, fs)) == 0)
        rc = mdb_put(txn, s->db_meta, &k, &v, 0);
    free(fs);
    return rc;
}

/* ---- the recorded configuration --------------------------------------- */

/* Layout of meta "config" (all big-endian):
 *   be32 version | be32 nwindows | be32 window * nwindows | be64 max_age_days |
 *   u8 have_ref | if have_ref: be32 refdata version, then per borough (33):
 *   u8 have_borough | 64 bytes name (NUL padded) | u8 have_population |
 *   be64 population (IEEE 754 bits) * CRR_REF_ETHNICITIES. */
#define S_CFG_BOROUGH (1 + 64 + 1 + 8 * CRR_REF_ETHNICITIES)
#define S_CFG_MAX (4 + 4 + 4 * CRR_STORE_MAX_WINDOWS + 8 + 1 + 4 + CRR_REF_BOROUGHS * S_CFG_BOROUGH)

static uint64_t s_dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double s_bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static size_t s_config_encode(const crr_store_t *s, const crr_refdata_t *ref, uint8_t *p)
{
    size_t k = 0;
    crr_be32_put(p + k, CRR_STORE_CONFIG_VERSION), k += 4;
    crr_be32_put(p + k, (uint32_t)s->nwindows), k += 4;
    for (size_t i = 0; i < s->nwindows; i++)
        crr_be32_put(p + k, s->windows[i]), k += 4;
    crr_be64_put(p + k, (uint64_t)s->max_age_days), k += 8;
    p[k++] = ref != NULL;
    if (!ref)
        return k;
    crr_be32_put(p + k, ref->version), k += 4;
    for (int b = 0; b < CRR_REF_BOROUGHS; b++) {
        p[k++] = ref->have_borough[b];
        memset(p + k, 0, 64);
        memcpy(p + k, ref->borough_name[b], strnlen(ref->borough_name[b], 63));
        k += 64;
        p[k++] = ref->have_population[b];
        for (int e = 0; e < CRR_REF_ETHNICITIES; e++)
            crr_be64_put(p + k, s_dbits(ref->population[b][e])), k += 8;
    }
    return k;
}

/* Decodes a config record: windows and max age into w/nw/age, ref (malloc'd or NULL). */
static int s_config_decode(const uint8_t *p, size_t n, unsigned *w, size_t *nw, int64_t *age,
                           crr_refdata_t **ref)
{
    *ref = NULL;
    size_t k = 0;
    if (n < 8 || crr_be32_get(p) != CRR_STORE_CONFIG_VERSION)
        return CRR_EPARSE;
    uint32_t cnt = crr_be32_get(p + 4);
    k = 8;
    if (cnt == 0 || cnt > CRR_STORE_MAX_WINDOWS || n < k + 4 * cnt + 9)
        return CRR_EPARSE;
    for (uint32_t i = 0; i < cnt; i++)
        w[i] = crr_be32_get(p + k), k += 4;
    *nw = cnt;
    *age = (int64_t)crr_be64_get(p + k), k += 8;
    if (!p[k++])
        return k == n ? 0 : CRR_EPARSE;
    if (n != k + 4 + CRR_REF_BOROUGHS * S_CFG_BOROUGH || crr_be32_get(p + k) != CRR_REFDATA_VERSION)
        return CRR_EPARSE;
    k += 4;
    crr_refdata_t *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    crr_refdata_clear(r);
    for (int b = 0; b < CRR_REF_BOROUGHS; b++) {
        r->have_borough[b] = p[k++];
        memcpy(r->borough_name[b], p + k, 63);
        r->borough_name[b][63] = 0;
        k += 64;
        r->have_population[b] = p[k++];
        for (int e = 0; e < CRR_REF_ETHNICITIES; e++)
            r->population[b][e] = s_bitsd(crr_be64_get(p + k)), k += 8;
    }
    *ref = r;
    return 0;
}

/* At open: reads the recorded config. A read-only open takes its windows and
 * max age unless opts give them; a record this release cannot read fails a
 * read-only open (CRR_EPARSE: answering with other windows would be wrong) and
 * is ignored by a writable one (the aggregator records its own next). */
static int s_config_load(crr_store_t *s, MDB_txn *txn, const crr_store_opts_t *o)
{
    MDB_val k = {sizeof CRR_META_CONFIG - 1, CRR_META_CONFIG}, v;
    int rc = mdb_get(txn, s->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    unsigned w[CRR_STORE_MAX_WINDOWS];
    size_t nw = 0;
    int64_t age = 0;
    rc = s_config_decode(v.mv_data, v.mv_size, w, &nw, &age, &s->ref);
    if (rc == CRR_EPARSE && !s->readonly)
        return 0;
    if (rc)
        return rc;
    if (s->readonly && !o->windows) {
        memcpy(s->windows, w, nw * sizeof *w);
        s->nwindows = nw;
        if (o->max_age_days <= 0 && age > 0)
            s->max_age_days = age;
    }
    return 0;
}

int crr_store_record_config(crr_store_t *s, const crr_refdata_t *ref)
{
    if (s->readonly)
        return CRR_EINVAL;
    uint8_t *buf = malloc(S_CFG_MAX);
    crr_refdata_t *copy = ref ? malloc(sizeof *copy) : NULL;
    if (!buf || (ref && !copy)) {
        free(buf);
        free(copy);
        return -ENOMEM;
    }
    size_t n = s_config_encode(s, ref, buf);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {sizeof CRR_META_CONFIG - 1, CRR_META_CONFIG}, v = {n, buf};
        rc = mdb_put(txn, s->db_meta, &k, &v, 0);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    free(buf);
    if (rc) {
        free(copy);
        return rc;
    }
    if (copy)
        *copy = *ref;
    free(s->ref);
    s->ref = copy;
    return 0;
}

const crr_refdata_t *crr_store_refdata(const crr_store_t *s)
{
    return s->ref;
}

/* ---- open / close ------------------------------------------------------ */

static const unsigned s_default_windows[] = {30, 90, 365};

int crr_store_open(const char *dir, const crr_store_opts_t *o, crr_store_t **out)
{
    *out = NULL;
    crr_store_opts_t def = {0};
    if (!o)
        o = &def;
    if (o->nwindows > CRR_STORE_MAX_WINDOWS || (o->windows && o->nwindows == 0))
        return CRR_EINVAL;
    crr_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc;
    const unsigned *w = o->windows ? o->windows : s_default_windows;
    size_t nw = o->windows ? o->nwindows : 3;
    unsigned longest = 0;
    for (size_t i = 0; i < nw; i++) {
        if (w[i] == 0 || w[i] > 100000) {
            rc = CRR_EINVAL;
            goto fail;
        }
        s->windows[i] = w[i];
        if (w[i] > longest)
            longest = w[i];
    }
    s->nwindows = nw;
    s->max_age_days = o->max_age_days > 0 ? o->max_age_days : (int64_t)longest + 30;
    s->readonly = o->readonly != 0;
    s->rcap_batch = o->reject_cap_batch ? o->reject_cap_batch : CRR_STORE_REJECT_CAP_BATCH;
    s->rcap_source = o->reject_cap_source ? o->reject_cap_source : CRR_STORE_REJECT_CAP_SOURCE;
    s->rcap_window =
        o->reject_cap_window_sec > 0 ? o->reject_cap_window_sec : CRR_STORE_REJECT_CAP_WINDOW_SEC;
    rc = crr_lmdb_open_readers(
        dir, o->map_size ? o->map_size : CRR_STORE_DEFAULT_MAP_SIZE, 16, CRR_STORE_MAX_READERS,
        s->readonly ? MDB_RDONLY : (o->start_empty ? CRR_LMDB_ALLOW_EMPTY : 0), &s->env);
    if (rc)
        goto fail;
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn)) != 0)
        goto fail;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"sources", &s->db_sources},     {"agg", &s->db_agg},
        {"gauge", &s->db_gauge},         {"records", &s->db_records},
        {"names", &s->db_names},         {"meta", &s->db_meta},
        {"snapshots", &s->db_snapshots}, {CRR_REJECTS_DB, &s->db_rejects},
        {"rejseq", &s->db_rejseq},       {"seqhash", &s->db_seqhash},
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = crr_lmdb_dbi(txn, dbs[i].name, 0, dbs[i].dbi);
        /* readers never use rejseq; a store written before it existed still reads */
        if (rc == MDB_NOTFOUND && s->readonly &&
            (dbs[i].dbi == &s->db_rejseq || dbs[i].dbi == &s->db_seqhash))
            rc = 0;
        if (rc != 0) {
            mdb_txn_abort(txn);
            goto fail;
        }
    }
    rc = s_config_load(s, txn, o);
    if (rc == 0)
        rc = s_format_check(s, txn);
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    if (!s->readonly) {
        s->co = crr_bk_new();
        s->rcap = calloc(2 * CRR_RCAP_SLOTS, sizeof *s->rcap);
        if (!s->co || !s->rcap) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    if (s->env)
        mdb_env_close(s->env);
    crr_bk_free(&s->co);
    free(s->rcap);
    free(s->ref);
    free(s->fs_mem);
    free(s);
    return rc;
}

void crr_store_close(crr_store_t **sp)
{
    if (!sp || !*sp)
        return;
    crr_store_t *s = *sp;
    crr_bk_free(&s->co);
    free(s->rcap);
    free(s->ref);
    free(s->fs_mem);
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    *sp = NULL;
}

MDB_env *crr_store_env(crr_store_t *s)
{
    return s->env;
}

const unsigned *crr_store_windows(const crr_store_t *s, size_t *n)
{
    *n = s->nwindows;
    return s->windows;
}

int64_t crr_store_max_age_days(const crr_store_t *s)
{
    return s->max_age_days;
}

/* ---- sources ----------------------------------------------------------- */

#define S_SRC_VAL                                                                                  \
    56 /* applied_seq, last_seen, spool_depth, applied, duplicates, rejected, resent */
#define S_SRC_VAL_V1 48 /* the same without resent (stores written before it) */
#define S_SRC_KEY_MAX 480

typedef struct s_src {
    uint8_t key[S_SRC_KEY_MAX + 9]; /* source_id | 0 | be64 epoch */
    size_t klen;                    /* bytes in key */
    uint64_t applied_seq, spool_depth, applied, duplicates, rejected, resent;
    int64_t last_seen;
} s_src_t;

static size_t s_src_key(uint8_t *k, const char *id, uint64_t epoch)
{
    size_t n = strlen(id);
    if (n > S_SRC_KEY_MAX)
        n = S_SRC_KEY_MAX;
    memcpy(k, id, n);
    k[n] = 0;
    crr_be64_put(k + n + 1, epoch);
    return n + 9;
}

static void s_src_decode(s_src_t *x, const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < S_SRC_VAL_V1)
        return;
    x->applied_seq = crr_be64_get(p);
    x->last_seen = (int64_t)crr_be64_get(p + 8);
    x->spool_depth = crr_be64_get(p + 16);
    x->applied = crr_be64_get(p + 24);
    x->duplicates = crr_be64_get(p + 32);
    x->rejected = crr_be64_get(p + 40);
    /* a V1 value counted resent events among its duplicates */
    x->resent = v->mv_size >= S_SRC_VAL ? crr_be64_get(p + 48) : 0;
}

static void s_src_encode(const s_src_t *x, uint8_t *p)
{
    crr_be64_put(p, x->applied_seq);
    crr_be64_put(p + 8, (uint64_t)x->last_seen);
    crr_be64_put(p + 16, x->spool_depth);
    crr_be64_put(p + 24, x->applied);
    crr_be64_put(p + 32, x->duplicates);
    crr_be64_put(p + 40, x->rejected);
    crr_be64_put(p + 48, x->resent);
}

/* ---- apply ------------------------------------------------------------- */

void crr_store_job_reset(crr_store_job_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n_rejected; i++)
        protobuf_c_message_free_unpacked(&j->rejected[i]->base, NULL);
    free(j->rejected);
    j->rejected = NULL;
    j->n_rejected = 0;
    j->durable_seq = j->expected_seq = j->n_applied = j->n_duplicate = j->n_rereported = 0;
    j->n_resent = j->total_applied = j->total_duplicates = j->total_rejected = 0;
    j->error = 0;
    j->conflict_seq = 0;
    j->n_unstored = 0;
    j->source_cap_hit = 0;
    memset(j->rejected_by_code, 0, sizeof j->rejected_by_code);
}

static char *s_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = crr_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int s_job_reject(crr_store_job_t *j, uint64_t seq, const crr_diag_t *d)
{
    Crrmon__V1__Rejection **nr = crr_realloc(j->rejected, (j->n_rejected + 1) * sizeof *nr);
    if (!nr)
        return -ENOMEM;
    j->rejected = nr;
    Crrmon__V1__Rejection *r = crr_malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    crrmon__v1__rejection__init(r);
    r->seq = seq;
    r->code = (Crrmon__V1__RejectCode)d->code;
    r->field = s_strdup(d->field);
    r->reason = s_strdup(d->reason);
    if (!r->field || !r->reason) {
        free(r->field);
        free(r->reason);
        free(r);
        return -ENOMEM;
    }
    /* reasons quote the input: a strict reader refuses an Ack holding bad UTF-8 */
    crr_json_clean(r->field);
    crr_json_clean(r->reason);
    nr[j->n_rejected++] = r;
    return 0;
}

/* Everything one apply call carries between its steps. */
typedef struct s_apply {
    crr_store_t *s;                     /* the store */
    MDB_txn *txn;                       /* the write transaction */
    MDB_cursor *seq_put, *seq_del;      /* seqhash cursors (opened on first use): a source's
                                           seqs are consecutive, so each put and delete lands on
                                           or beside the cursor's page instead of a root search */
    crr_buckets_t *co;                  /* the coalescing table */
    int64_t last_arrival[CRR_BOROUGHS]; /* latest arrival per borough this call, 0 = none */
    uint64_t order_ctr;                 /* staff_headcount statement order counter */
    int order_loaded;                   /* order_ctr read from meta */
    struct crr_first_seen fs;           /* first seen per (borough, type), this call */
    const Crrmon__V1__Event *ev;        /* s_accumulate's event ... */
    unsigned ev_borough;                /* ... its borough index */
    int64_t ev_day, ev_arrival_day;     /* ... its occurred and arrival days */
    int rcap_saved;                     /* s->rcap copied before this attempt's first take */
    const uint8_t *valid;               /* the job's events that passed validation (s_prefetch) */
    double scratch[CRR_AGG_MAXM];       /* where the prefetch lets the rules add */
} s_apply_t;

/* Sets *m to key's metric vector in the table. On the key's first sight in
 * this call the vector starts from the stored sums (not from zero), so each
 * event is added to the running total in arrival order, one at a time: the
 * sums are the same bits whatever the group boundaries (floating-point
 * addition is not associative; adding a group's partial sum would make the
 * totals depend on how events were grouped). The stored sums of the keys the
 * group will touch are normally loaded beforehand in key order (s_prefetch);
 * a key it missed is read here. Sets *slot. Returns 0, -ENOMEM or an LMDB
 * code. */
static int s_co_load(s_apply_t *a, const uint8_t *key, unsigned nm, double **m,
                     crr_bk_slot_t **slot)
{
    crr_bk_slot_t *sl = crr_bk_get(a->co, key, nm);
    if (!(*slot = sl))
        return -ENOMEM;
    *m = a->co->arena + sl->off;
    sl->state |= CRR_BK_DIRTY;
    if (sl->state & CRR_BK_LOADED)
        return 0;
    MDB_val k = {CRR_AGG_KEY, (void *)key}, v;
    int rc = mdb_get(a->txn, a->s->db_agg, &k, &v);
    if (rc == 0 && v.mv_size == nm * sizeof(double))
        memcpy(*m, v.mv_data, nm * sizeof(double));
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    sl->state |= CRR_BK_LOADED | (rc == 0 ? CRR_BK_STORED : 0);
    return 0;
}

/* crr_acc_ops_t.sums: the running sums of (fam, cell) on the event's day or
 * arrival day; a hashed cell's name is kept in names on the cell's first
 * sight in this call. */
static int s_acc_sums(void *ctx, unsigned fam, const uint8_t cell[CRR_AGG_CELL], int by_arrival,
                      const char *name, size_t len, double **m)
{
    s_apply_t *a = ctx;
    uint8_t key[CRR_AGG_KEY];
    crr_store_agg_key(key, a->ev_borough, fam, by_arrival ? a->ev_arrival_day : a->ev_day, cell);
    crr_bk_slot_t *sl;
    int rc = s_co_load(a, key, crr_fam_nmetrics(fam), m, &sl);
    if (rc || !name || (sl->state & CRR_BK_NAMED))
        return rc;
    sl->state |= CRR_BK_NAMED;
    MDB_val k = {CRR_AGG_CELL, (void *)cell}, v = {len, (void *)name};
    return mdb_put(a->txn, a->s->db_names, &k, &v, 0);
}

/* crr_acc_ops_t.headcount: the gauge statement, ordered by occurred_at, then
 * apply order (the counter in meta). */
static int s_acc_headcount(void *ctx, unsigned group, uint32_t headcount, uint32_t in_scope)
{
    s_apply_t *a = ctx;
    int rc;
    if (!a->order_loaded) {
        MDB_val k = {sizeof CRR_META_ORDER_CTR - 1, CRR_META_ORDER_CTR}, v;
        rc = mdb_get(a->txn, a->s->db_meta, &k, &v);
        if (rc == 0 && v.mv_size == 8)
            a->order_ctr = crr_be64_get(v.mv_data);
        else if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        a->order_loaded = 1;
    }
    const Google__Protobuf__Timestamp *at = a->ev->occurred_at;
    uint8_t gk[CRR_GAUGE_KEY], gv[8];
    gk[0] = (uint8_t)a->ev_borough;
    gk[1] = (uint8_t)group;
    crr_be64_put(gk + 2, (uint64_t)at->seconds ^ (1ULL << 63));
    crr_be32_put(gk + 10, (uint32_t)at->nanos);
    crr_be64_put(gk + 14, ++a->order_ctr);
    crr_be32_put(gv, headcount);
    crr_be32_put(gv + 4, in_scope);
    MDB_val k = {CRR_GAUGE_KEY, gk}, v = {8, gv};
    return mdb_put(a->txn, a->s->db_gauge, &k, &v, 0);
}

/* Adds the sums of e (borough b, occurred day, arrival day) to the table. */
static int s_accumulate(s_apply_t *a, const Crrmon__V1__Event *e, unsigned b, int64_t day,
                        int64_t arrival_day)
{
    a->ev = e;
    a->ev_borough = b;
    a->ev_day = day;
    a->ev_arrival_day = arrival_day;
    crr_acc_ops_t ops = {.sums = s_acc_sums, .headcount = s_acc_headcount, .ctx = a};
    return crr_accumulate(e, &ops);
}

/* Record-id de-duplication key: borough | type | record_id (long ids hashed). */
static size_t s_record_key(uint8_t *k, unsigned b, unsigned type, const char *rid)
{
    size_t n = strlen(rid);
    k[0] = (uint8_t)b;
    k[1] = (uint8_t)type;
    if (n <= 400) {
        memcpy(k + 2, rid, n);
        return n + 2;
    }
    memcpy(k + 2, rid, 380);
    k[382] = 0;
    crr_be64_put(k + 383, crr_hash64(rid, n));
    crr_be64_put(k + 391, crr_hash64(rid + 1, n - 1));
    return 399;
}

/* rejseq key of (source, seq): the source's key, then be64 seq. Returns its length. */
static size_t s_rejseq_key(uint8_t *k, const s_src_t *src, uint64_t seq)
{
    memcpy(k, src->key, src->klen);
    crr_be64_put(k + src->klen, seq);
    return src->klen + 8;
}

/* Stores the reject of event e (and lists it in the job's Ack). With src,
 * also indexes it by (source, seq) in rejseq, so that a resend of the same
 * event, which is a duplicate by then, is answered with the same rejection:
 * an Ack lost after the commit must not lose the sender its reject.
 * Value: be64 arrival | be32 code | field NUL reason NUL. */
/* Bytes of reason kept in rejseq for a reject past the storage caps. */
#define S_REJSEQ_REASON_UNSTORED 64

/* Takes one reject from source id's budget for the window of now: 1 when
 * it may be stored, 0 past the cap (*first_hit, if not NULL, set to 1 the
 * first time in the window). */
static int s_rcap_take(crr_store_t *s, const char *id, int64_t now, int *first_hit)
{
    uint64_t h = crr_hash64(id, strlen(id)) | 1;
    struct crr_rcap *c = &s->rcap[h % CRR_RCAP_SLOTS];
    int64_t window = now - now % s->rcap_window;
    if (c->hash != h || c->window != window) {
        c->hash = h;
        c->window = window;
        c->stored = 0;
        c->hit = 0;
    }
    if (c->stored >= s->rcap_source) {
        if (!c->hit && first_hit)
            *first_hit = 1;
        c->hit = 1;
        return 0;
    }
    c->stored++;
    return 1;
}

/* Whether the reject of one more event of job j may be stored with its text
 * (the caps of crr_store_opts_t); counts it against them if so. */
static int s_reject_storable(s_apply_t *a, crr_store_job_t *j, int64_t now)
{
    crr_store_t *s = a->s;
    uint64_t stored = j->n_rejected - j->n_rereported - j->n_unstored;
    if (stored >= s->rcap_batch)
        return 0;
    if (!a->rcap_saved) { /* s_apply_once gives it back if the attempt fails */
        memcpy(s->rcap + CRR_RCAP_SLOTS, s->rcap, CRR_RCAP_SLOTS * sizeof *s->rcap);
        a->rcap_saved = 1;
    }
    return s_rcap_take(s, j->batch->source_id ? j->batch->source_id : "", now, &j->source_cap_hit);
}

static int s_store_reject(s_apply_t *a, crr_store_job_t *j, const Crrmon__V1__Event *e, int64_t now,
                          const crr_diag_t *d, const s_src_t *src)
{
    int rc, stored = s_reject_storable(a, j, now);
    if (stored) {
        char *raw = crr_json_dumps(&e->base, 0);
        crr_reject_t r = {
            .at_sec = now,
            .source_id = j->batch->source_id,
            .epoch = j->batch->epoch,
            .seq = e->seq,
            .diag = d,
            .raw = raw,
        };
        rc = crr_rejects_put(a->txn, a->s->db_rejects, &r);
        free(raw);
        if (rc)
            return rc;
    } else {
        j->n_unstored++; /* counted and listed in the Ack all the same */
    }
    if (src) {
        uint8_t k[S_SRC_KEY_MAX + 9 + 8];
        size_t fl = strlen(d->field), rl = strlen(d->reason);
        if (!stored && rl > S_REJSEQ_REASON_UNSTORED)
            rl = S_REJSEQ_REASON_UNSTORED; /* past the caps: only the gist, for a re-report */
        uint8_t v[12 + sizeof d->field + sizeof d->reason];
        crr_be64_put(v, (uint64_t)now);
        crr_be32_put(v + 8, (uint32_t)d->code);
        memcpy(v + 12, d->field, fl + 1);
        memcpy(v + 12 + fl + 1, d->reason, rl);
        v[12 + fl + 1 + rl] = 0;
        MDB_val key = {s_rejseq_key(k, src, e->seq), k}, val = {12 + fl + 1 + rl + 1, v};
        if ((rc = mdb_put(a->txn, a->s->db_rejseq, &key, &val, 0)) != 0)
            return rc;
    }
    if (d->code >= 0 && d->code < CRR_REJECT_CODES)
        j->rejected_by_code[d->code]++;
    return s_job_reject(j, e->seq, d);
}

/* A resent event that was rejected the first time: lists the same rejection
 * in this job's Ack. Returns 0 (also when it was not rejected) or an LMDB
 * code / -ENOMEM. */
static int s_rereport_reject(s_apply_t *a, crr_store_job_t *j, const s_src_t *src, uint64_t seq)
{
    uint8_t k[S_SRC_KEY_MAX + 9 + 8];
    MDB_val key = {s_rejseq_key(k, src, seq), k}, val;
    int rc = mdb_get(a->txn, a->s->db_rejseq, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    const uint8_t *v = val.mv_data;
    if (val.mv_size < 14)
        return 0;
    crr_diag_t d;
    crr_diag_clear(&d);
    d.code = (int)crr_be32_get(v + 8);
    const char *field = (const char *)v + 12;
    size_t fl = strnlen(field, val.mv_size - 12);
    const char *reason = field + fl + 1;
    size_t rl = fl + 1 < val.mv_size - 12 ? strnlen(reason, val.mv_size - 12 - fl - 1) : 0;
    snprintf(d.field, sizeof d.field, "%.*s", (int)fl, field);
    snprintf(d.reason, sizeof d.reason, "%.*s", (int)rl, rl ? reason : "");
    j->n_rereported++;
    return s_job_reject(j, seq, &d);
}

/* ---- resend check (seqhash) ------------------------------------------- */

/* 64-bit hash of e as packed (a resend carries the spool's same bytes). */
static int s_event_hash(const Crrmon__V1__Event *e, uint64_t *h)
{
    uint8_t stack[2048];
    size_t n = protobuf_c_message_get_packed_size(&e->base);
    uint8_t *buf = n <= sizeof stack ? stack : crr_malloc(n);
    if (!buf)
        return -ENOMEM;
    protobuf_c_message_pack(&e->base, buf);
    *h = crr_hash64((const char *)buf, n);
    if (buf != stack)
        free(buf);
    return 0;
}

/* Records hash h of e (which just advanced src's applied_seq) and drops the
 * one CRR_STORE_SEQHASH_KEEP seqs back. Value: be64 arrival | be64 hash. */
static int s_seqhash_put(s_apply_t *a, const s_src_t *src, const Crrmon__V1__Event *e, uint64_t h,
                         int64_t now)
{
    int rc;
    if (!a->seq_put && (rc = mdb_cursor_open(a->txn, a->s->db_seqhash, &a->seq_put)) != 0)
        return rc;
    uint8_t k[S_SRC_KEY_MAX + 9 + 8], v[16];
    crr_be64_put(v, (uint64_t)now);
    crr_be64_put(v + 8, h);
    MDB_val key = {s_rejseq_key(k, src, e->seq), k}, val = {16, v};
    if ((rc = mdb_cursor_put(a->seq_put, &key, &val, 0)) != 0)
        return rc;
    if (e->seq <= CRR_STORE_SEQHASH_KEEP)
        return 0;
    if (!a->seq_del && (rc = mdb_cursor_open(a->txn, a->s->db_seqhash, &a->seq_del)) != 0)
        return rc;
    key.mv_size = s_rejseq_key(k, src, e->seq - CRR_STORE_SEQHASH_KEEP);
    rc = mdb_cursor_get(a->seq_del, &key, NULL, MDB_SET);
    if (rc == 0)
        rc = mdb_cursor_del(a->seq_del, 0);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Closes the seqhash cursors (before the transaction ends). */
static void s_seqhash_close(s_apply_t *a)
{
    if (a->seq_put)
        mdb_cursor_close(a->seq_put);
    if (a->seq_del)
        mdb_cursor_close(a->seq_del);
    a->seq_put = a->seq_del = NULL;
}

/* Sets *conflict to the first resent seq of the job's batch (its consecutive
 * prefix at or below applied_seq) whose event differs from the one applied
 * under it, or 0. A seq without a stored hash (older than the horizon, or
 * applied before the check existed) cannot be checked and passes. The stored
 * hash is of the bytes as received, or (stores written before those hashes
 * existed, and jobs without them) of the event packed again; the two are the
 * same bytes for a protobuf-c sender, and an event matching either passes. */
static int s_seqhash_conflict(s_apply_t *a, const s_src_t *src, const crr_store_job_t *j,
                              uint64_t *conflict)
{
    const Crrmon__V1__Batch *bt = j->batch;
    *conflict = 0;
    for (size_t i = 0; i < bt->n_events; i++) {
        const Crrmon__V1__Event *e = bt->events[i];
        if (e->seq == 0 || e->seq > src->applied_seq ||
            (i > 0 && e->seq != bt->events[i - 1]->seq + 1))
            break;
        uint8_t k[S_SRC_KEY_MAX + 9 + 8];
        MDB_val key = {s_rejseq_key(k, src, e->seq), k}, val;
        int rc = mdb_get(a->txn, a->s->db_seqhash, &key, &val);
        if (rc == MDB_NOTFOUND || (rc == 0 && val.mv_size < 16))
            continue;
        if (rc)
            return rc;
        uint64_t stored = crr_be64_get((const uint8_t *)val.mv_data + 8), h;
        if (j->event_hash && j->event_hash[i] == stored)
            continue;
        if ((rc = s_event_hash(e, &h)) != 0)
            return rc;
        if (h != stored) {
            *conflict = e->seq;
            return 0;
        }
    }
    return 0;
}

/* The job's answer: the source's applied seq and totals (Ack fields). */
static void s_job_done(crr_store_job_t *j, const s_src_t *src)
{
    j->durable_seq = src->applied_seq;
    j->total_applied = src->applied;
    j->total_duplicates = src->duplicates;
    j->total_rejected = src->rejected;
}

/* 1 (d set) when the job's sender is bound to boroughs and e's is not one. */
static int s_not_allowed(const crr_store_job_t *j, const Crrmon__V1__Event *e, crr_diag_t *d)
{
    if (!j->allowed)
        return 0;
    for (size_t i = 0; i < j->nallowed; i++)
        if (strcmp(j->allowed[i], e->borough) == 0)
            return 0;
    crr_diag_set(d, CRRMON__V1__REJECT_CODE__REJECT_CODE_NOT_ALLOWED, "borough",
                 "certificate '%.64s' is not bound to borough %.32s", j->sender ? j->sender : "",
                 e->borough);
    return 1;
}

static int s_apply_job(s_apply_t *a, crr_store_job_t *j, s_src_t *src, int64_t now)
{
    const Crrmon__V1__Batch *bt = j->batch;
    int rc;
    src->last_seen = now;
    src->spool_depth = bt->spool_depth;
    if (bt->n_events == 0) {
        s_job_done(j, src);
        return 0;
    }
    uint64_t first = bt->events[0]->seq;
    if (first > src->applied_seq + 1) {
        s_job_done(j, src);
        j->expected_seq = src->applied_seq + 1;
        return 0;
    }
    /* a resend must be the same events: check before touching anything */
    if (first <= src->applied_seq) {
        if ((rc = s_seqhash_conflict(a, src, j, &j->conflict_seq)) != 0)
            return rc;
        if (j->conflict_seq) {
            s_job_done(j, src);
            return 0;
        }
    }
    crr_validate_opts_t vo = {
        .now_sec = now,
        .future_slack_sec = CRR_VALIDATE_FUTURE_SLACK_SEC,
        .max_age_days = a->s->max_age_days,
    };
    int64_t arrival_day = crr_day_of(now);
    crr_diag_t d;
    uint64_t prev = 0;
    for (size_t i = 0; i < bt->n_events; i++) {
        const Crrmon__V1__Event *e = bt->events[i];
        if (e->seq == 0 || (i > 0 && e->seq != prev + 1)) {
            /* the rest of the batch cannot be placed: reject it, stop advancing */
            for (size_t k = i; k < bt->n_events; k++) {
                crr_diag_clear(&d);
                crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_BAD_SEQUENCE, "seq",
                             "seq %llu does not follow %llu in the batch",
                             (unsigned long long)bt->events[k]->seq,
                             (unsigned long long)(k == i ? prev : bt->events[k - 1]->seq));
                if ((rc = s_store_reject(a, j, bt->events[k], now, &d, NULL)) != 0)
                    return rc;
                src->rejected++;
            }
            break;
        }
        prev = e->seq;
        if (e->seq <= src->applied_seq) {
            j->n_resent++;
            src->resent++;
            if (src->rejected && (rc = s_rereport_reject(a, j, src, e->seq)) != 0)
                return rc;
            continue;
        }
        src->applied_seq = e->seq;
        uint64_t h;
        if (j->event_hash)
            h = j->event_hash[i];
        else if ((rc = s_event_hash(e, &h)) != 0)
            return rc;
        if ((rc = s_seqhash_put(a, src, e, h, now)) != 0)
            return rc;
        crr_diag_clear(&d);
        if ((!a->valid[i] && crr_validate_event(e, &vo, &d) != 0) || s_not_allowed(j, e, &d)) {
            if ((rc = s_store_reject(a, j, e, now, &d, src)) != 0)
                return rc;
            src->rejected++;
            continue;
        }
        int b = crr_borough_index(e->borough);
        unsigned type = crr_event_type_index(e);
        int64_t day = crr_day_of(e->occurred_at->seconds);
        if (e->record_id && e->record_id[0]) {
            uint8_t rk[400 + 2];
            uint8_t dv[4];
            crr_be32_put(dv, (uint32_t)(day + (int64_t)CRR_DAY_BIAS));
            MDB_val k = {s_record_key(rk, (unsigned)b, type, e->record_id), rk}, v = {4, dv};
            rc = mdb_put(a->txn, a->s->db_records, &k, &v, MDB_NOOVERWRITE);
            if (rc == MDB_KEYEXIST) {
                j->n_duplicate++;
                src->duplicates++;
                continue;
            }
            if (rc)
                return rc;
        }
        if ((rc = s_accumulate(a, e, (unsigned)b, day, arrival_day)) != 0)
            return rc;
        if ((rc = s_fs_note(a->s, a->txn, &a->fs, (unsigned)b, type, e->occurred_at->seconds,
                            e->occurred_at->nanos)) != 0)
            return rc;
        if (now > a->last_arrival[b])
            a->last_arrival[b] = now;
        j->n_applied++;
        src->applied++;
    }
    s_job_done(j, src);
    return 0;
}

/* ---- prefetch ----------------------------------------------------------- */

/* crr_acc_ops_t.sums while prefetching: notes the bucket in the table (not
 * loaded) and lets the rules add into a scratch vector. */
static int s_pf_sums(void *ctx, unsigned fam, const uint8_t cell[CRR_AGG_CELL], int by_arrival,
                     const char *name, size_t len, double **m)
{
    (void)name;
    (void)len;
    s_apply_t *a = ctx;
    uint8_t key[CRR_AGG_KEY];
    crr_store_agg_key(key, a->ev_borough, fam, by_arrival ? a->ev_arrival_day : a->ev_day, cell);
    if (!crr_bk_get(a->co, key, crr_fam_nmetrics(fam)))
        return -ENOMEM;
    memset(a->scratch, 0, sizeof a->scratch);
    *m = a->scratch;
    return 0;
}

static int s_pf_headcount(void *ctx, unsigned group, uint32_t headcount, uint32_t in_scope)
{
    (void)ctx;
    (void)group;
    (void)headcount;
    (void)in_scope;
    return 0;
}

/* Before the apply: every bucket the group's valid events will add to is
 * noted and its stored sums read in key order (s_pf_load), and each event's
 * validation is kept for the apply (co->valid, per event in group order:
 * validated once). An event that turns out resent, a duplicate or not
 * allowed costs only a needless read: its buckets stay clean, unwritten. */
static int s_prefetch(s_apply_t *a, crr_store_job_t *jobs, size_t n, int64_t clock_now)
{
    crr_buckets_t *c = a->co;
    size_t total = 0, at = 0;
    for (size_t i = 0; i < n; i++)
        if (!jobs[i].error)
            total += jobs[i].batch->n_events;
    if (crr_bk_valid_reserve(c, total))
        return -ENOMEM;
    crr_acc_ops_t ops = {.sums = s_pf_sums, .headcount = s_pf_headcount, .ctx = a};
    for (size_t i = 0; i < n; i++) {
        const crr_store_job_t *j = &jobs[i];
        if (j->error)
            continue;
        int64_t now = j->arrival_sec ? j->arrival_sec : clock_now;
        crr_validate_opts_t vo = {.now_sec = now,
                                  .future_slack_sec = CRR_VALIDATE_FUTURE_SLACK_SEC,
                                  .max_age_days = a->s->max_age_days};
        for (size_t k = 0; k < j->batch->n_events; k++) {
            const Crrmon__V1__Event *e = j->batch->events[k];
            crr_diag_t d;
            crr_diag_clear(&d);
            if (!(c->valid[at++] = crr_validate_event(e, &vo, &d) == 0))
                continue;
            a->ev = e;
            a->ev_borough = (unsigned)crr_borough_index(e->borough);
            a->ev_day = crr_day_of(e->occurred_at->seconds);
            a->ev_arrival_day = crr_day_of(now);
            int rc = crr_accumulate(e, &ops);
            if (rc)
                return rc;
        }
    }
    return crr_bk_load(a->co, a->txn, a->s->db_agg);
}

/* One attempt at the group: every job without an error, in one write
 * transaction. When a job's own apply fails, *failed gets its index (else it
 * stays SIZE_MAX: the failure is the group's, e.g. the commit). */
static int s_apply_once(crr_store_t *s, crr_store_job_t *jobs, size_t n, size_t *failed)
{
    for (size_t i = 0; i < n; i++)
        if (!jobs[i].error)
            crr_store_job_reset(&jobs[i]);
    s_apply_t a = {.s = s, .co = s->co}; /* a.fs: every (borough, type) S_FS_UNKNOWN */
    crr_bk_clear(s->co);
    s_src_t *srcs = n ? crr_calloc(n, sizeof *srcs) : NULL;
    size_t nsrc = 0;
    int rc;
    if (n && !srcs)
        return -ENOMEM;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &a.txn)) != 0)
        goto fail;
    int64_t clock_now = 0;
    for (size_t i = 0; i < n && !clock_now; i++)
        if (!jobs[i].error && !jobs[i].arrival_sec)
            clock_now = crr_clock_now_sec();
    if ((rc = s_prefetch(&a, jobs, n, clock_now)) != 0)
        goto fail;
    size_t at = 0; /* the job's first event in co->valid */
    for (size_t i = 0; i < n; i++) {
        crr_store_job_t *j = &jobs[i];
        if (j->error)
            continue; /* left out of this attempt */
        int64_t now = j->arrival_sec ? j->arrival_sec : clock_now;
        a.valid = s->co->valid + at;
        at += j->batch->n_events;
        uint8_t key[S_SRC_KEY_MAX + 9];
        size_t klen =
            s_src_key(key, j->batch->source_id ? j->batch->source_id : "", j->batch->epoch);
        s_src_t *src = NULL;
        for (size_t k = 0; k < nsrc; k++)
            if (srcs[k].klen == klen && memcmp(srcs[k].key, key, klen) == 0)
                src = &srcs[k];
        if (!src) {
            src = &srcs[nsrc++];
            memcpy(src->key, key, klen);
            src->klen = klen;
            MDB_val k = {klen, key}, v;
            rc = mdb_get(a.txn, s->db_sources, &k, &v);
            if (rc == 0)
                s_src_decode(src, &v);
            else if (rc != MDB_NOTFOUND)
                goto fail;
        }
        if ((rc = s_apply_job(&a, j, src, now)) != 0) {
            *failed = i;
            goto fail;
        }
    }
    s_seqhash_close(&a);
    if ((rc = crr_bk_flush(s->co, a.txn, s->db_agg)) != 0 ||
        (rc = s_fs_flush(s, a.txn, &a.fs)) != 0)
        goto fail;
    for (size_t k = 0; k < nsrc; k++) {
        uint8_t v8[S_SRC_VAL];
        s_src_encode(&srcs[k], v8);
        MDB_val key = {srcs[k].klen, srcs[k].key}, v = {S_SRC_VAL, v8};
        if ((rc = mdb_put(a.txn, s->db_sources, &key, &v, 0)) != 0)
            goto fail;
    }
    for (int b = 0; b < CRR_BOROUGHS; b++) {
        if (!a.last_arrival[b])
            continue;
        uint8_t kk[CRR_META_ARRIVAL_KEY], v8[8];
        crr_store_arrival_key(kk, b);
        crr_be64_put(v8, (uint64_t)a.last_arrival[b]);
        MDB_val key = {CRR_META_ARRIVAL_KEY, kk}, v = {8, v8};
        if ((rc = mdb_put(a.txn, s->db_meta, &key, &v, 0)) != 0)
            goto fail;
    }
    if (a.order_loaded) {
        uint8_t v8[8];
        crr_be64_put(v8, a.order_ctr);
        MDB_val key = {sizeof CRR_META_ORDER_CTR - 1, CRR_META_ORDER_CTR}, v = {8, v8};
        if ((rc = mdb_put(a.txn, s->db_meta, &key, &v, 0)) != 0)
            goto fail;
    }
    rc = crr_iofault_commit(a.txn, "store_commit"); /* EIO when a test arms it */
    a.txn = NULL;
    if (rc)
        goto fail;
    free(srcs);
    return 0;
fail:
    s_seqhash_close(&a);
    if (a.txn)
        mdb_txn_abort(a.txn);
    if (a.rcap_saved) /* nothing of the attempt was stored: its rejects take no budget */
        memcpy(s->rcap, s->rcap + CRR_RCAP_SLOTS, CRR_RCAP_SLOTS * sizeof *s->rcap);
    free(srcs);
    return rc;
}

int crr_store_apply(crr_store_t *s, crr_store_job_t *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        crr_store_job_reset(&jobs[i]);
    if (s->readonly || !s->co)
        return CRR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!jobs[i].batch)
            return CRR_EINVAL;
    /* One batch must not fail the others' group: the transaction that failed
     * in a batch is aborted (LMDB cannot undo part of one, nor can the
     * coalescing table) and the group is applied again without that batch.
     * A failure that comes back batch after batch (the map is full) is the
     * group's, after a few tries. Costs nothing while nothing fails. */
    int rc = 0;
    for (unsigned attempt = 0;; attempt++) {
        size_t failed = SIZE_MAX;
        if ((rc = s_apply_once(s, jobs, n, &failed)) == 0)
            return 0;
        if (failed == SIZE_MAX || attempt >= CRR_STORE_APPLY_RETRIES)
            break;
        crr_store_job_reset(&jobs[failed]);
        jobs[failed].error = rc;
    }
    for (size_t i = 0; i < n; i++)
        crr_store_job_reset(&jobs[i]);
    return rc;
}

/* ---- rejects, sources, snapshots, prune -------------------------------- */

int crr_store_reject_frame(crr_store_t *s, const crr_diag_t *d, const char *source_id,
                           const char *raw)
{
    if (s->readonly)
        return CRR_EINVAL;
    int64_t now = crr_clock_now_sec();
    if (!s_rcap_take(s, source_id ? source_id : "", now, NULL))
        return 1; /* a flood of bad frames must not fill the store either */
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    crr_reject_t r = {.at_sec = now, .source_id = source_id, .diag = d, .raw = raw};
    if ((rc = crr_rejects_put(txn, s->db_rejects, &r)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

int crr_store_sources_foreach(crr_store_t *s, int (*fn)(const crr_source_info_t *, void *),
                              void *ud)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->db_sources, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    int op = MDB_FIRST;
    char id[S_SRC_KEY_MAX + 1];
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        if (k.mv_size < 9)
            continue;
        size_t idl = k.mv_size - 9;
        memcpy(id, k.mv_data, idl);
        id[idl] = 0;
        s_src_t x = {0};
        s_src_decode(&x, &v);
        crr_source_info_t info = {
            .source_id = id,
            .epoch = crr_be64_get((const uint8_t *)k.mv_data + idl + 1),
            .applied_seq = x.applied_seq,
            .last_seen_sec = x.last_seen,
            .spool_depth = x.spool_depth,
            .applied = x.applied,
            .duplicates = x.duplicates,
            .rejected = x.rejected,
            .resent = x.resent,
        };
        if ((rc = fn(&info, ud)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int crr_store_rejects_foreach(crr_store_t *s, uint64_t from_id,
                              int (*fn)(const char *json, size_t len, void *ud), void *ud)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    rc = crr_rejects_foreach(txn, s->db_rejects, from_id, fn, ud);
    mdb_txn_abort(txn);
    return rc;
}

int crr_store_snapshot_get(crr_store_t *s, const char *id, Crrmon__V1__Snapshot **out)
{
    *out = NULL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(id), (void *)id}, v;
    rc = mdb_get(txn, s->db_snapshots, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = CRR_ENOTFOUND;
    else if (rc == 0 && v.mv_size < 8)
        rc = CRR_EPARSE;
    else if (rc == 0)
        rc = crr_codec_unpack(&crrmon__v1__snapshot__descriptor, (const uint8_t *)v.mv_data + 8,
                              v.mv_size - 8, v.mv_size, (ProtobufCMessage **)out);
    mdb_txn_abort(txn);
    return rc;
}

/* Reads a varint at *p (< end). Returns 0 or -1 (truncated, too long). */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Copies the top-level fields of the packed Snapshot in[0..len) that come
 * before its first value (field 5; protobuf-c packs fields in number order,
 * so id, as_of, taken_at and schedule) into out[0..cap); *olen the bytes
 * copied. The rows are never touched, so this costs the same for any size.
 * Returns 0 or CRR_EPARSE (not a message, or a header past cap bytes). */
static int s_strip_values(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *olen)
{
    const uint8_t *p = in, *end = in + len;
    *olen = 0;
    while (p < end) {
        const uint8_t *start = p;
        uint64_t tag, n = 0;
        if (s_varint(&p, end, &tag) != 0)
            return CRR_EPARSE;
        if (tag >> 3 == 5)
            return 0; /* the rows start: the header is complete */
        switch (tag & 7) {
        case 0:
            if (s_varint(&p, end, &n) != 0)
                return CRR_EPARSE;
            n = 0;
            break;
        case 1: n = 8; break;
        case 2:
            if (s_varint(&p, end, &n) != 0)
                return CRR_EPARSE;
            break;
        case 5: n = 4; break;
        default: return CRR_EPARSE;
        }
        if (n > (uint64_t)(end - p))
            return CRR_EPARSE;
        p += n;
        if ((size_t)(p - start) > cap - *olen)
            return CRR_EPARSE;
        memcpy(out + *olen, start, (size_t)(p - start));
        *olen += (size_t)(p - start);
    }
    return 0;
}

int crr_store_snapshot_head(crr_store_t *s, const char *id, Crrmon__V1__Snapshot **out)
{
    *out = NULL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(id), (void *)id}, v;
    uint8_t head[1024];
    size_t hlen = 0;
    rc = mdb_get(txn, s->db_snapshots, &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = CRR_ENOTFOUND;
    else if (rc == 0 && v.mv_size < 8)
        rc = CRR_EPARSE;
    else if (rc == 0)
        rc =
            s_strip_values((const uint8_t *)v.mv_data + 8, v.mv_size - 8, head, sizeof head, &hlen);
    mdb_txn_abort(txn);
    if (rc == 0)
        rc = crr_codec_unpack(&crrmon__v1__snapshot__descriptor, head, hlen, hlen + 4096,
                              (ProtobufCMessage **)out);
    return rc;
}

int crr_store_is_readonly(const crr_store_t *s)
{
    return s->readonly;
}

/* Snapshot id: as_of as YYYYMMDDTHHMMSS, '-', the counter (6 digits or more). */
static void s_snapshot_id(char *id, size_t len, int64_t as_of_sec, uint64_t ctr)
{
    char when[40];
    crr_time_format(as_of_sec, 0, when, sizeof when); /* 2026-03-01T12:00:00Z */
    size_t k = 0;
    for (const char *p = when; *p && k < 16; p++)
        if (*p != '-' && *p != ':')
            id[k++] = *p;
    id[k] = 0;
    snprintf(id + k, len - k, "-%06llu", (unsigned long long)ctr);
}

/* Stores snap under the next counter in txn (snap->id set). */
static int s_snapshot_put(crr_store_t *s, MDB_txn *txn, Crrmon__V1__Snapshot *snap,
                          int64_t as_of_sec, int64_t taken_at_sec)
{
    uint64_t ctr = 0;
    MDB_val ck = {sizeof CRR_META_SNAPSHOT_CTR - 1, CRR_META_SNAPSHOT_CTR}, cv;
    int rc = mdb_get(txn, s->db_meta, &ck, &cv);
    if (rc == 0 && cv.mv_size == 8)
        ctr = crr_be64_get(cv.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    ctr++;
    char id[64];
    s_snapshot_id(id, sizeof id, as_of_sec, ctr);
    if (!(snap->id = s_strdup(id)))
        return -ENOMEM;
    if (s->snap_hook && (rc = s->snap_hook(txn, snap, taken_at_sec, s->snap_hook_ud)) != 0)
        return rc;
    uint8_t *packed = NULL, *buf = NULL;
    size_t plen;
    if ((rc = crr_codec_pack(&snap->base, &packed, &plen)) != 0)
        return rc;
    if (!(buf = malloc(plen + 8))) {
        free(packed);
        return -ENOMEM;
    }
    crr_be64_put(buf, (uint64_t)taken_at_sec);
    memcpy(buf + 8, packed, plen);
    uint8_t c8[8];
    crr_be64_put(c8, ctr);
    cv.mv_data = c8;
    cv.mv_size = 8;
    MDB_val sk = {strlen(id), id}, sv = {plen + 8, buf};
    if ((rc = mdb_put(txn, s->db_meta, &ck, &cv, 0)) == 0)
        rc = mdb_put(txn, s->db_snapshots, &sk, &sv, MDB_NOOVERWRITE);
    free(packed);
    free(buf);
    return rc;
}

void crr_store_set_snapshot_hook(crr_store_t *s, crr_store_snapshot_hook_fn fn, void *ud)
{
    s->snap_hook = fn;
    s->snap_hook_ud = ud;
}

int crr_store_snapshot_put(crr_store_t *s, Crrmon__V1__Snapshot *snap, int64_t as_of_sec,
                           int64_t taken_at_sec)
{
    if (s->readonly)
        return CRR_EINVAL;
    char *unset = snap->id;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = s_snapshot_put(s, txn, snap, as_of_sec, taken_at_sec)) != 0)
        mdb_txn_abort(txn);
    else
        rc = mdb_txn_commit(txn);
    if (rc && snap->id != unset) {
        free(snap->id);
        snap->id = unset;
    }
    return rc;
}

int crr_store_snapshots_foreach(crr_store_t *s,
                                int (*fn)(const char *id, int64_t taken_at_sec, void *ud), void *ud)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->db_snapshots, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    int op = MDB_FIRST;
    char id[256];
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        if (k.mv_size >= sizeof id || v.mv_size < 8)
            continue;
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = 0;
        if ((rc = fn(id, (int64_t)crr_be64_get(v.mv_data), ud)) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int crr_store_stat(crr_store_t *s, crr_store_stat_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    struct {
        MDB_dbi dbi;
        uint64_t *count;
    } dbs[] = {
        {s->db_agg, &out->agg_keys},
        {s->db_records, &out->record_ids},
        {s->db_gauge, &out->gauge_keys},
        {s->db_snapshots, &out->snapshots},
        {s->db_rejects, &out->rejects},
        {s->db_sources, NULL},
        {s->db_seqhash, NULL},
        {s->db_names, NULL},
        {s->db_meta, NULL},
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        MDB_stat st;
        if ((rc = mdb_stat(txn, dbs[i].dbi, &st)) != 0)
            break;
        if (dbs[i].count)
            *dbs[i].count = st.ms_entries;
        out->pages_used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        out->page_size = st.ms_psize;
    }
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    MDB_envinfo info;
    if ((rc = mdb_env_info(s->env, &info)) != 0)
        return rc;
    out->last_pgno = info.me_last_pgno;
    out->map_size = info.me_mapsize;
    return 0;
}

/* Deletes agg keys with day < cutoff_day, per (borough, family) range. */
static int s_prune_agg(crr_store_t *s, MDB_txn *txn, int64_t cutoff_day)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->db_agg, &cur);
    if (rc)
        return rc;
    for (unsigned b = 0; b < CRR_BOROUGHS && !rc; b++) {
        for (unsigned f = 1; f < CRR_FAM_COUNT && !rc; f++) {
            uint8_t start[CRR_AGG_KEY];
            crr_store_agg_key(start, b, f, -(int64_t)CRR_DAY_BIAS, NULL);
            uint32_t lim = (uint32_t)(cutoff_day + (int64_t)CRR_DAY_BIAS);
            MDB_val k = {CRR_AGG_KEY, start}, v;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            while (rc == 0) {
                const uint8_t *p = k.mv_data;
                if (k.mv_size != CRR_AGG_KEY || p[0] != b || p[1] != f ||
                    crr_be32_get(p + 2) >= lim)
                    break;
                if ((rc = mdb_cursor_del(cur, 0)) != 0)
                    break;
                /* after a delete, MDB_NEXT yields the item now under the cursor */
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            }
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Deletes headcount statements older than cutoff_sec unless they are the
 * latest statement at or before the cutoff for their (borough, staff group),
 * which still answers "latest up to the end of the window". */
static int s_prune_gauge(crr_store_t *s, MDB_txn *txn, int64_t cutoff_sec)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->db_gauge, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    uint8_t prev[CRR_GAUGE_KEY];
    int have_prev = 0;
    uint64_t lim = (uint64_t)cutoff_sec ^ (1ULL << 63);
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size != CRR_GAUGE_KEY)
            continue;
        const uint8_t *p = k.mv_data;
        if (crr_be64_get(p + 2) >= lim) {
            have_prev = 0;
            continue;
        }
        if (have_prev && prev[0] == p[0] && prev[1] == p[1]) {
            /* a newer pre-cutoff statement of the same group supersedes prev */
            uint8_t cur_key[CRR_GAUGE_KEY];
            memcpy(cur_key, p, CRR_GAUGE_KEY);
            MDB_val pk = {CRR_GAUGE_KEY, prev};
            if ((rc = mdb_del(txn, s->db_gauge, &pk, NULL)) != 0)
                break;
            MDB_val ck = {CRR_GAUGE_KEY, cur_key};
            if ((rc = mdb_cursor_get(cur, &ck, &v, MDB_SET)) != 0)
                break;
            memcpy(prev, cur_key, CRR_GAUGE_KEY);
        } else {
            memcpy(prev, p, CRR_GAUGE_KEY);
            have_prev = 1;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    mdb_cursor_close(cur);
    return rc;
}

/* Deletes the entries of dbi whose value starts with a big-endian number of
 * `width` bytes (4 or 8) below limit: remembered record ids (4-byte biased
 * day), stored snapshots and rejseq entries (8-byte time in seconds). A full
 * scan, in one transaction. */
static int s_prune_by_value(MDB_txn *txn, MDB_dbi dbi, size_t width, uint64_t limit)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    MDB_cursor_op op = MDB_FIRST;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        op = MDB_NEXT; /* after a delete, MDB_NEXT yields the item now under the cursor */
        if (v.mv_size < width)
            continue;
        uint64_t x = width == 4 ? crr_be32_get(v.mv_data) : crr_be64_get(v.mv_data);
        if (x < limit && (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}

/* An 8-byte time limit for s_prune_by_value (times before 1970 never occur). */
static uint64_t s_time_limit(int64_t cutoff_sec)
{
    return cutoff_sec > 0 ? (uint64_t)cutoff_sec : 0;
}

int crr_store_prune(crr_store_t *s, int64_t now_sec, int64_t snapshot_max_age_sec,
                    int64_t reject_max_age_sec)
{
    if (s->readonly)
        return CRR_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    int64_t cutoff_day = crr_day_of(now_sec) - s->max_age_days;
    if ((rc = s_prune_agg(s, txn, cutoff_day)) != 0 ||
        (rc = s_prune_by_value(txn, s->db_records, 4,
                               (uint64_t)(cutoff_day + (int64_t)CRR_DAY_BIAS))) != 0 ||
        (rc = s_prune_gauge(s, txn, now_sec - s->max_age_days * CRR_SEC_PER_DAY)) != 0 ||
        (rc = s_prune_by_value(txn, s->db_seqhash, 8,
                               s_time_limit(now_sec - s->max_age_days * CRR_SEC_PER_DAY))) != 0)
        goto fail;
    if (snapshot_max_age_sec > 0 &&
        (rc = s_prune_by_value(txn, s->db_snapshots, 8,
                               s_time_limit(now_sec - snapshot_max_age_sec))) != 0)
        goto fail;
    if (reject_max_age_sec > 0 &&
        ((rc = crr_rejects_prune(txn, s->db_rejects, now_sec - reject_max_age_sec, NULL)) != 0 ||
         (rc = s_prune_by_value(txn, s->db_rejseq, 8,
                                s_time_limit(now_sec - reject_max_age_sec))) != 0))
        goto fail;
    return mdb_txn_commit(txn);
fail:
    mdb_txn_abort(txn);
    return rc;
}

int crr_store_source_owner(crr_store_t *s, const char *source_id, const char *name, char *owner,
                           size_t len)
{
    if (s->readonly)
        return CRR_EINVAL;
    char key[400];
    int kl = snprintf(key, sizeof key, "owner%c%.380s", 0, source_id);
    MDB_val k = {(size_t)kl, key}, v = {strlen(name), (void *)name};
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    rc = mdb_put(txn, s->db_meta, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) {
        snprintf(owner, len, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
        mdb_txn_abort(txn);
        return 0;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    snprintf(owner, len, "%s", name);
    return mdb_txn_commit(txn);
}
