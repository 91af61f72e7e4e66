/* buckets: the per-group table of day buckets and its key-ordered reads and
 * writes of db_agg (see buckets.h). */
#include "buckets.h"

#include "accumulate.h"
#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

crr_buckets_t *crr_bk_new(void)
{
    return crr_calloc(1, sizeof(crr_buckets_t));
}

int crr_bk_valid_reserve(crr_buckets_t *c, size_t n)
{
    if (c->valid_cap >= n)
        return 0;
    uint8_t *nv = crr_realloc(c->valid, n);
    if (!nv)
        return -ENOMEM;
    c->valid = nv;
    c->valid_cap = n;
    return 0;
}

static uint64_t s_key_hash(const uint8_t *k)
{
    uint64_t a, b;
    memcpy(&a, k, 8);
    memcpy(&b, k + 6, 8);
    uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 29);
}

void crr_bk_clear(crr_buckets_t *c)
{
    if (c->used)
        memset(c->slots, 0, c->cap * sizeof *c->slots);
    c->used = 0;
    c->arena_len = 0;
    c->sorted = 0;
}

static int s_grow(crr_buckets_t *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 4096;
    crr_bk_slot_t *ns = crr_calloc(ncap, sizeof *ns);
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].used)
            continue;
        size_t j = s_key_hash(c->slots[i].key) & (ncap - 1);
        while (ns[j].used)
            j = (j + 1) & (ncap - 1);
        ns[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
    return 0;
}

/* Returns key's slot (its metric vector zeroed and its state 0 on first
 * sight), or NULL on ENOMEM. */
crr_bk_slot_t *crr_bk_get(crr_buckets_t *c, const uint8_t *key, unsigned nm)
{
    if ((c->used + 1) * 2 > c->cap && s_grow(c) != 0)
        return NULL;
    size_t j = s_key_hash(key) & (c->cap - 1);
    while (c->slots[j].used) {
        if (memcmp(c->slots[j].key, key, CRR_AGG_KEY) == 0)
            return &c->slots[j];
        j = (j + 1) & (c->cap - 1);
    }
    if (c->arena_len + nm > c->arena_cap) {
        size_t ncap = c->arena_cap ? c->arena_cap * 2 : 65536;
        while (ncap < c->arena_len + nm)
            ncap *= 2;
        double *na = crr_realloc(c->arena, ncap * sizeof *na);
        if (!na)
            return NULL;
        c->arena = na;
        c->arena_cap = ncap;
    }
    crr_bk_slot_t *sl = &c->slots[j];
    memcpy(sl->key, key, CRR_AGG_KEY);
    sl->used = 1;
    sl->state = 0;
    sl->off = (uint32_t)c->arena_len;
    memset(c->arena + c->arena_len, 0, nm * sizeof(double));
    c->arena_len += nm;
    c->used++;
    return sl;
}

void crr_bk_free(crr_buckets_t **cp)
{
    crr_buckets_t *c = *cp;
    if (!c)
        return;
    free(c->slots);
    free(c->arena);
    free(c->order);
    free(c->valid);
    free(c);
    *cp = NULL;
}

static int s_cmp_slot(const void *x, const void *y)
{
    return memcmp((*(crr_bk_slot_t *const *)x)->key, (*(crr_bk_slot_t *const *)y)->key,
                  CRR_AGG_KEY);
}

/* Sorts the table's slots into c->order (every slot when all, else those
 * not loaded yet). Returns their count, or (size_t)-1 on ENOMEM. */
static size_t s_sort(crr_buckets_t *c, int all)
{
    if (c->order_cap < c->used) {
        crr_bk_slot_t **no = crr_realloc(c->order, c->used * sizeof *no);
        if (!no)
            return (size_t)-1;
        c->order = no;
        c->order_cap = c->used;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].used && (all || !(c->slots[i].state & CRR_BK_LOADED)))
            c->order[n++] = &c->slots[i];
    if (n > 1)
        qsort(c->order, n, sizeof *c->order, s_cmp_slot);
    return n;
}

/* A cursor walking db_agg forward through ascending keys: a key near the
 * last one is reached in a few steps, a far one by one search. A backfill's
 * group touches keys spread over the whole database, so a root-to-leaf
 * search per key (mdb_get) was a fifth of the aggregator's time. */
typedef struct s_seek {
    MDB_cursor *cur; /* on db_agg */
    MDB_val k, v;    /* the entry it is at (when at == 1) */
    int at;          /* 0: not positioned, 1: at k, 2: past the last entry */
} s_seek_t;

static int s_keycmp(const MDB_val *k, const uint8_t *key)
{
    int c = memcmp(k->mv_data, key, k->mv_size < CRR_AGG_KEY ? k->mv_size : CRR_AGG_KEY);
    return c ? c : (k->mv_size > CRR_AGG_KEY) - (k->mv_size < CRR_AGG_KEY);
}

/* Moves sk to the first entry >= key (keys asked in ascending order); sets
 * *found when that entry is key. Returns 0 or an LMDB code. */
static int s_seek(s_seek_t *sk, const uint8_t *key, int *found)
{
    int rc;
    *found = 0;
    if (sk->at == 2)
        return 0;
    for (int step = 0; sk->at == 1; step++) {
        int c = s_keycmp(&sk->k, key);
        if (c >= 0) {
            *found = c == 0;
            return 0;
        }
        if (step == 8)
            break;
        if ((rc = mdb_cursor_get(sk->cur, &sk->k, &sk->v, MDB_NEXT)) != 0) {
            sk->at = 2;
            return rc == MDB_NOTFOUND ? 0 : rc;
        }
    }
    sk->k.mv_size = CRR_AGG_KEY;
    sk->k.mv_data = (void *)key;
    if ((rc = mdb_cursor_get(sk->cur, &sk->k, &sk->v, MDB_SET_RANGE)) != 0) {
        sk->at = 2;
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    sk->at = 1;
    *found = s_keycmp(&sk->k, key) == 0;
    return 0;
}

/* Reads the stored sums of every slot not loaded yet, in key order. */
int crr_bk_load(crr_buckets_t *c, MDB_txn *txn, MDB_dbi dbi)
{
    size_t n = s_sort(c, 0);
    if (n == (size_t)-1)
        return -ENOMEM;
    c->sorted = n == c->used ? n : 0;
    s_seek_t sk = {0};
    int rc = mdb_cursor_open(txn, dbi, &sk.cur);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        crr_bk_slot_t *sl = c->order[i];
        size_t bytes = crr_fam_nmetrics(sl->key[1]) * sizeof(double);
        int found;
        if ((rc = s_seek(&sk, sl->key, &found)) != 0)
            break;
        if (found && sk.v.mv_size == bytes)
            memcpy(c->arena + sl->off, sk.v.mv_data, bytes);
        sl->state |= CRR_BK_LOADED | (found ? CRR_BK_STORED : 0);
    }
    if (sk.cur)
        mdb_cursor_close(sk.cur);
    return rc;
}

int crr_bk_flush(crr_buckets_t *c, MDB_txn *txn, MDB_dbi dbi)
{
    if (c->used == 0)
        return 0;
    size_t n = c->sorted == c->used ? c->sorted : s_sort(c, 1);
    if (n == (size_t)-1)
        return -ENOMEM;
    s_seek_t sk = {0};
    int rc = mdb_cursor_open(txn, dbi, &sk.cur);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        crr_bk_slot_t *sl = c->order[i];
        if (!(sl->state & CRR_BK_DIRTY))
            continue;
        int found;
        if ((rc = s_seek(&sk, sl->key, &found)) != 0)
            break;
        MDB_val k = {CRR_AGG_KEY, sl->key},
                v = {crr_fam_nmetrics(sl->key[1]) * sizeof(double), c->arena + sl->off};
        int same = found && sk.v.mv_size == v.mv_size;
        if ((rc = mdb_cursor_put(sk.cur, &k, &v, same ? MDB_CURRENT : 0)) != 0)
            break;
        rc = mdb_cursor_get(sk.cur, &sk.k, &sk.v, MDB_GET_CURRENT);
        sk.at = 1;
    }
    if (sk.cur)
        mdb_cursor_close(sk.cur);
    return rc;
}
