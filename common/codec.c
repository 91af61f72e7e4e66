/* codec: protobuf-c pack/unpack with a bounded allocator. Owns no state; the
 * budget lives on the caller's stack for the duration of one unpack. Memory is
 * plain malloc (through crr_malloc, common/mem.h), so unpacked messages free
 * through protobuf-c's default path. */
#include "codec.h"

#include "accumulate.h"

#include "crashpoint.h"
#include "err.h"
#include "mem.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct {
    size_t left; /* bytes the unpack may still allocate */
    int over;    /* set when the budget ran out */
    int nomem;   /* set when malloc failed (not the frame's fault) */
} s_budget_t;

static void *s_alloc(void *data, size_t size)
{
    s_budget_t *b = data;
    if (size > b->left) {
        b->over = 1;
        return NULL;
    }
    b->left -= size;
    void *p = crr_malloc(size);
    if (!p)
        b->nomem = 1;
    return p;
}

static void s_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

int crr_codec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                     size_t max_len, ProtobufCMessage **out)
{
    return crr_codec_unpack_budget(desc, buf, len, max_len, (len + 64) * CRR_CODEC_ALLOC_FACTOR,
                                   out);
}

int crr_codec_unpack_budget(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                            size_t max_len, size_t budget, ProtobufCMessage **out)
{
    *out = NULL;
    if (len > max_len)
        return CRR_ETOOBIG;
    s_budget_t b = {.left = budget, .over = 0, .nomem = 0};
    ProtobufCAllocator a = {.alloc = s_alloc, .free = s_free, .allocator_data = &b};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, buf);
    if (!m)
        return b.nomem ? -ENOMEM : b.over ? CRR_ETOOBIG : CRR_EPARSE;
    *out = m;
    return 0;
}

int crr_codec_unpack_batch(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Batch **out)
{
    return crr_codec_unpack(&crrmon__v1__batch__descriptor, buf, len, max_len,
                            (ProtobufCMessage **)out);
}

int crr_codec_unpack_ack(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Ack **out)
{
    return crr_codec_unpack(&crrmon__v1__ack__descriptor, buf, len, max_len,
                            (ProtobufCMessage **)out);
}

int crr_codec_unpack_event(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Event **out)
{
    return crr_codec_unpack(&crrmon__v1__event__descriptor, buf, len, max_len,
                            (ProtobufCMessage **)out);
}

/* ---- arena ---- */

#define S_CHUNK ((size_t)4 << 20)

typedef struct s_chunk {
    struct s_chunk *next; /* older chunk */
    size_t cap, used;     /* bytes in data, bytes handed out */
    max_align_t data[];   /* the memory */
} s_chunk_t;

/* Standard-size chunks kept for the next group after a reset: freeing them
 * gave the memory back to the kernel, which then cleared every page again
 * on the next group (about 6% of the aggregator's CPU on a backfill). */
#define S_KEEP_CHUNKS 16

struct crr_codec_arena {
    s_chunk_t *head;  /* current chunk, newest first */
    s_chunk_t *spare; /* standard-size chunks kept by reset, for reuse */
    size_t nspare;    /* chunks in spare */
    size_t left;      /* budget of the unpack in progress */
    int over;         /* that budget ran out */
    int nomem;        /* malloc failed in it */
};

int crr_codec_arena_new(crr_codec_arena_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void crr_codec_arena_reset(crr_codec_arena_t *a)
{
    if (!a || !a->head)
        return;
    s_chunk_t *c = a->head->next;
    while (c) {
        s_chunk_t *next = c->next;
        if (c->cap == S_CHUNK && a->nspare < S_KEEP_CHUNKS) {
            c->next = a->spare;
            a->spare = c;
            a->nspare++;
        } else {
            free(c);
        }
        c = next;
    }
    a->head->next = NULL;
    a->head->used = 0;
}

void crr_codec_arena_destroy(crr_codec_arena_t **ap)
{
    crr_codec_arena_t *a = *ap;
    if (!a)
        return;
    crr_codec_arena_reset(a);
    free(a->head);
    while (a->spare) {
        s_chunk_t *next = a->spare->next;
        free(a->spare);
        a->spare = next;
    }
    free(a);
    *ap = NULL;
}

static void *s_arena_alloc(void *data, size_t size)
{
    crr_codec_arena_t *a = data;
    if (size > a->left) {
        a->over = 1;
        return NULL;
    }
    a->left -= size;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!a->head || a->head->cap - a->head->used < size) {
        size_t cap = size > S_CHUNK ? size : S_CHUNK;
        s_chunk_t *c = NULL;
        if (cap == S_CHUNK && a->spare) {
            c = a->spare;
            a->spare = c->next;
            a->nspare--;
        } else if (crr_failpoint("codec_arena_chunk") || !(c = crr_malloc(sizeof *c + cap))) {
            a->nomem = 1;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += size;
    return p;
}

static void s_arena_free(void *data, void *ptr)
{
    (void)data; /* released all at once by crr_codec_arena_reset */
    (void)ptr;
}

int crr_codec_unpack_batch_arena(crr_codec_arena_t *a, const uint8_t *buf, size_t len,
                                 size_t max_len, Crrmon__V1__Batch **out)
{
    *out = NULL;
    if (len > max_len)
        return CRR_ETOOBIG;
    a->left = (len + 64) * CRR_CODEC_ALLOC_FACTOR;
    a->over = 0;
    a->nomem = 0;
    ProtobufCAllocator al = {.alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = a};
    ProtobufCMessage *m = protobuf_c_message_unpack(&crrmon__v1__batch__descriptor, &al, len, buf);
    if (!m)
        return a->nomem ? -ENOMEM : a->over ? CRR_ETOOBIG : CRR_EPARSE;
    *out = (Crrmon__V1__Batch *)m;
    return 0;
}

/* ---- walking a packed Batch ---- */

/* Reads a protobuf varint at *p (< end); 0 on success. */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Steps *p over the next top-level field of [*p, end). Sets *ev to the bytes
 * of an event (field 3, length-delimited) and *evlen to their count, else
 * *ev = NULL. Returns 0, or -1 when the rest does not walk. */
static int s_next_field(const uint8_t **p, const uint8_t *end, const uint8_t **ev, size_t *evlen)
{
    uint64_t tag, v;
    *ev = NULL;
    if (s_varint(p, end, &tag))
        return -1;
    switch (tag & 7) {
    case 0: return s_varint(p, end, &v);
    case 1: v = 8; break;
    case 5: v = 4; break;
    case 2:
        if (s_varint(p, end, &v))
            return -1;
        break;
    default: return -1;
    }
    if (v > (uint64_t)(end - *p))
        return -1;
    if (tag >> 3 == 3 && (tag & 7) == 2) {
        *ev = *p;
        *evlen = (size_t)v;
    }
    *p += v;
    return 0;
}

size_t crr_codec_batch_count_events(const uint8_t *buf, size_t len, size_t limit)
{
    const uint8_t *p = buf, *end = buf + len, *ev;
    size_t n = 0, evlen;
    while (p < end && n <= limit && s_next_field(&p, end, &ev, &evlen) == 0)
        n += ev != NULL;
    return n;
}

int crr_codec_batch_event_hashes(crr_codec_arena_t *a, const uint8_t *buf, size_t len, size_t n,
                                 uint64_t **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    a->left = n * sizeof **out; /* this allocation's own budget */
    a->over = a->nomem = 0;
    uint64_t *h = s_arena_alloc(a, n * sizeof *h);
    if (!h)
        return -ENOMEM;
    const uint8_t *p = buf, *end = buf + len, *ev;
    size_t i = 0, evlen;
    while (p < end) {
        if (s_next_field(&p, end, &ev, &evlen))
            return 0;
        if (ev && i == n)
            return 0;
        if (ev)
            h[i++] = crr_hash64((const char *)ev, evlen);
    }
    if (i == n)
        *out = h;
    return 0;
}

void crr_codec_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

int crr_codec_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return -ENOMEM;
    *len = protobuf_c_message_pack(m, buf);
    *out = buf;
    return 0;
}

long crr_codec_pack_into(const ProtobufCMessage *m, uint8_t *buf, size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > cap)
        return CRR_ETOOBIG;
    return (long)protobuf_c_message_pack(m, buf);
}
