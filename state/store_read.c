/* store_read: the indicator engine's read of the store (store.h "reads for
 * the indicator engine"): day buckets, the headcount gauge, first-seen
 * instants, last arrivals and names, in one read transaction. The layout
 * read here is store_int.h's; nothing outside the store sees it. */
#include "store.h"
#include "store_int.h"

#include "lmdbx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct crr_store_read {
    crr_store_t *s;    /* the store */
    MDB_txn *txn;      /* the read transaction */
    MDB_cursor *agg;   /* on the agg database */
    MDB_cursor *gauge; /* on the gauge database */
};

int crr_store_read_begin(crr_store_t *s, crr_store_read_t **out)
{
    *out = NULL;
    crr_store_read_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc == 0)
        rc = mdb_cursor_open(r->txn, s->db_agg, &r->agg);
    if (rc == 0)
        rc = mdb_cursor_open(r->txn, s->db_gauge, &r->gauge);
    if (rc) {
        crr_store_read_end(&r);
        return rc;
    }
    *out = r;
    return 0;
}

void crr_store_read_end(crr_store_read_t **rp)
{
    if (!rp || !*rp)
        return;
    crr_store_read_t *r = *rp;
    if (r->agg)
        mdb_cursor_close(r->agg);
    if (r->gauge)
        mdb_cursor_close(r->gauge);
    if (r->txn)
        mdb_txn_abort(r->txn);
    free(r);
    *rp = NULL;
}

int crr_store_read_buckets(crr_store_read_t *r, unsigned b, unsigned fam, int64_t lo_day,
                           int64_t hi_day, crr_store_bucket_fn fn, void *ud)
{
    unsigned nm = crr_fam_nmetrics(fam);
    uint32_t hi = (uint32_t)(hi_day + (int64_t)CRR_DAY_BIAS);
    uint8_t start[CRR_AGG_KEY];
    crr_store_agg_key(start, b, fam, lo_day, NULL);
    MDB_val k = {CRR_AGG_KEY, start}, v;
    int rc = mdb_cursor_get(r->agg, &k, &v, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(r->agg, &k, &v, MDB_NEXT)) {
        const uint8_t *p = k.mv_data;
        if (k.mv_size != CRR_AGG_KEY || p[0] != b || p[1] != fam)
            break;
        uint32_t dd = crr_be32_get(p + 2);
        if (dd > hi)
            break;
        if (v.mv_size != nm * sizeof(double))
            continue;
        double m[CRR_AGG_MAXM];
        memcpy(m, v.mv_data, nm * sizeof(double));
        int64_t day = (int64_t)dd - (int64_t)CRR_DAY_BIAS;
        if ((rc = fn(ud, day, crr_be64_get(p + 6), m, nm)) != 0)
            return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int crr_store_read_in_scope(crr_store_read_t *r, unsigned b, int64_t end_excl_sec, double *out)
{
    int rc = 0;
    *out = 0;
    for (unsigned g = 1; g <= 4; g++) {
        uint8_t k[CRR_GAUGE_KEY] = {0};
        k[0] = (uint8_t)b;
        k[1] = (uint8_t)g;
        crr_be64_put(k + 2, (uint64_t)end_excl_sec ^ (1ULL << 63));
        MDB_val key = {CRR_GAUGE_KEY, k}, val;
        rc = mdb_cursor_get(r->gauge, &key, &val, MDB_SET_RANGE);
        if (rc == 0)
            rc = mdb_cursor_get(r->gauge, &key, &val, MDB_PREV);
        else if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(r->gauge, &key, &val, MDB_LAST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        const uint8_t *p = key.mv_data;
        if (key.mv_size == CRR_GAUGE_KEY && p[0] == b && p[1] == g && val.mv_size == 8)
            *out += crr_be32_get((const uint8_t *)val.mv_data + 4);
    }
    return rc;
}

int crr_store_read_first_seen(crr_store_read_t *r, unsigned b, unsigned t, int64_t *sec,
                              int32_t *nanos)
{
    return crr_store_first_seen(r->s, r->txn, b, t, sec, nanos);
}

int crr_store_read_last_arrival(crr_store_read_t *r, unsigned b, int64_t *sec)
{
    uint8_t lk[CRR_META_ARRIVAL_KEY];
    crr_store_arrival_key(lk, b);
    MDB_val key = {CRR_META_ARRIVAL_KEY, lk}, val;
    int rc = mdb_get(r->txn, r->s->db_meta, &key, &val);
    if (rc == 0 && val.mv_size != 8)
        return MDB_NOTFOUND;
    if (rc == 0)
        *sec = (int64_t)crr_be64_get(val.mv_data);
    return rc;
}

const char *crr_store_read_name(crr_store_read_t *r, uint64_t hash, size_t *len)
{
    return crr_store_name_get(r->s, r->txn, hash, len);
}
