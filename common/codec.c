/* codec: protobuf-c pack/unpack with a bounded allocator. Owns no state; the
 * budget lives on the caller's stack for the duration of one unpack. Memory is
 * plain malloc, so unpacked messages free through protobuf-c's default path. */
#include "codec.h"

#include "err.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    size_t left; /* bytes the unpack may still allocate */
    int over;    /* set when the budget ran out */
} s_budget_t;

static void *s_alloc(void *data, size_t size)
{
    s_budget_t *b = data;
    if (size > b->left) {
        b->over = 1;
        return NULL;
    }
    b->left -= size;
    return malloc(size);
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
    s_budget_t b = {.left = budget, .over = 0};
    ProtobufCAllocator a = {.alloc = s_alloc, .free = s_free, .allocator_data = &b};
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a, len, buf);
    if (!m)
        return b.over ? CRR_ETOOBIG : CRR_EPARSE;
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
