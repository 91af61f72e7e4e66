/* buckets: the store's per-group table of day buckets (agg keys and their
 * vectors of sums), and how it meets db_agg: read and written in key order
 * by one cursor that walks forward (a merge), not a root-to-leaf search per
 * key.
 *
 * The store's apply notes every bucket a group will touch, reads their
 * stored sums in key order (crr_bk_load), adds each applied event to them
 * in arrival order, and writes back the buckets an event added to
 * (crr_bk_flush). Which buckets an event touches and what it adds are
 * accumulate.h's; the key layout is store_int.h's. One thread; no
 * transaction of its own. */
#ifndef CRR_BUCKETS_H
#define CRR_BUCKETS_H

#include "store_int.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define CRR_BK_LOADED 1u /* the vector started from the stored sums (or none are stored) */
#define CRR_BK_NAMED 2u  /* the hashed cell's name was written in this group */
#define CRR_BK_STORED 4u /* the key is in db_agg (known once CRR_BK_LOADED) */
#define CRR_BK_DIRTY 8u  /* an applied event added to the vector: written by crr_bk_flush */

typedef struct crr_bk_slot {
    uint8_t key[CRR_AGG_KEY]; /* agg key */
    uint8_t used;             /* slot holds a key */
    uint8_t state;            /* CRR_BK_* */
    uint32_t off;             /* index of the first metric in arena */
} crr_bk_slot_t;

typedef struct crr_buckets {
    crr_bk_slot_t *slots;  /* open-addressing table, cap a power of two */
    size_t cap;            /* slots */
    size_t used;           /* occupied slots */
    double *arena;         /* metric vectors */
    size_t arena_len;      /* doubles in use */
    size_t arena_cap;      /* doubles allocated */
    crr_bk_slot_t **order; /* slots in key order (crr_bk_load, crr_bk_flush) */
    size_t order_cap;      /* entries allocated in order */
    size_t sorted;         /* order[0..sorted) is every slot in key order (0: not sorted) */
    uint8_t *valid;        /* the store's: per event of the group, passed validation */
    size_t valid_cap;      /* bytes allocated in valid */
} crr_buckets_t;

/* A new empty table, or NULL on ENOMEM. */
crr_buckets_t *crr_bk_new(void);
/* Empties the table for the next group (keeps its memory). */
void crr_bk_clear(crr_buckets_t *c);
/* Frees the table and nulls *cp; idempotent. */
void crr_bk_free(crr_buckets_t **cp);
/* Returns key's slot (on first sight: nm metrics zeroed, state 0), or NULL
 * on ENOMEM. Its vector is c->arena + slot->off. */
crr_bk_slot_t *crr_bk_get(crr_buckets_t *c, const uint8_t *key, unsigned nm);
/* Makes c->valid hold at least n bytes. Returns 0 or -ENOMEM. */
int crr_bk_valid_reserve(crr_buckets_t *c, size_t n);

/* Reads from dbi (db_agg) the stored sums of every slot not loaded yet, in
 * key order, and marks them CRR_BK_LOADED (CRR_BK_STORED when found).
 * Returns 0, -ENOMEM or an LMDB code. */
int crr_bk_load(crr_buckets_t *c, MDB_txn *txn, MDB_dbi dbi);
/* Writes every CRR_BK_DIRTY slot's vector to dbi in key order (an existing
 * key overwritten where the cursor stands). Clean slots are not written,
 * not even as zeros. Returns 0, -ENOMEM or an LMDB code. */
int crr_bk_flush(crr_buckets_t *c, MDB_txn *txn, MDB_dbi dbi);

#endif
