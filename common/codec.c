/* codec: protobuf-c pack/unpack with a bounded allocator. Owns no state; the
 * budget lives on the caller's stack for the duration of one unpack. Memory is
 * plain malloc (through crr_malloc, common/mem.h), so unpacked messages free
 * through protobuf-c's default path. */
#include "codec.h"

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

struct crr_codec_arena {
    s_chunk_t *head; /* current chunk, newest first */
    size_t left;     /* budget of the unpack in progress */
    int over;        /* that budget ran out */
    int nomem;       /* malloc failed in it */
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
        free(c);
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
        s_chunk_t *c = crr_malloc(sizeof *c + cap);
        if (!c) {
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
