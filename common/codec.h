/* codec: the only place crrmon packs and unpacks protobuf messages.
 *
 * Unpacking uses our own allocator with a budget, so a hostile frame cannot
 * make the process allocate more than CRR_CODEC_ALLOC_FACTOR times its size.
 * Messages returned here are freed with crr_codec_free(). */
#ifndef CRR_CODEC_H
#define CRR_CODEC_H

#include "crrmon/v1/event.pb-c.h"
#include "crrmon/v1/ingest.pb-c.h"
#include "crrmon/v1/snapshot.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CRR_CODEC_ALLOC_FACTOR 64

/* Unpacks buf[0..len) as a message of type desc. Returns 0 and sets *out, or
 * CRR_ETOOBIG (len > max_len, or the allocation budget ran out), CRR_EPARSE,
 * or -ENOMEM (malloc failed: not the frame's fault, never CRR_EPARSE). */
int crr_codec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                     size_t max_len, ProtobufCMessage **out);

/* As crr_codec_unpack, with the allocation budget given in bytes instead of
 * derived from len. A budget too small for the message gives CRR_ETOOBIG
 * with nothing leaked, wherever the allocations run out (the OOM loop of
 * tests/unit/test_base.c walks every budget). */
int crr_codec_unpack_budget(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                            size_t max_len, size_t budget, ProtobufCMessage **out);

/* Typed wrappers of crr_codec_unpack. */
int crr_codec_unpack_batch(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Batch **out);
int crr_codec_unpack_ack(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Ack **out);
int crr_codec_unpack_event(const uint8_t *buf, size_t len, size_t max_len, Crrmon__V1__Event **out);

/* An arena for unpacking many frames whose messages all die together (the
 * aggregator's group): allocation is a pointer bump in large chunks, free is
 * nothing, and crr_codec_arena_reset releases everything at once. Messages
 * unpacked into an arena must NOT be passed to crr_codec_free. One thread. */
typedef struct crr_codec_arena crr_codec_arena_t;

/* New empty arena. Returns 0 and *out, or -ENOMEM. */
int crr_codec_arena_new(crr_codec_arena_t **out);
/* Forgets every message unpacked into a since the last reset (keeps its
 * memory: the current chunk and up to 16 standard chunks, 64 MiB, for the
 * next group). */
void crr_codec_arena_reset(crr_codec_arena_t *a);
/* Frees the arena and nulls *ap; idempotent. */
void crr_codec_arena_destroy(crr_codec_arena_t **ap);

/* As crr_codec_unpack_batch, but the Batch lives in arena a until its next
 * reset. Same return codes and the same per-frame allocation budget. */
int crr_codec_unpack_batch_arena(crr_codec_arena_t *a, const uint8_t *buf, size_t len,
                                 size_t max_len, Crrmon__V1__Batch **out);

/* Counts the events (Batch field 3) of a packed Batch by walking its
 * top-level fields, without unpacking: a frame of 600,000 seq-only events
 * costs a scan, not 600 MB. Stops counting past limit. Returns the count, or
 * limit + 1; a frame that does not walk is left to the unpacker. */
size_t crr_codec_batch_count_events(const uint8_t *buf, size_t len, size_t limit);

/* The resend hash of each of the n events of a packed Batch: crr_hash64 of
 * the event's bytes exactly as they are in the frame, in batch order, in an
 * array allocated from arena a (the store keeps it per seq to tell a resend
 * from another event under the same seq). Sets *out to NULL when the frame
 * does not walk to exactly n events. Returns 0 or -ENOMEM. */
int crr_codec_batch_event_hashes(crr_codec_arena_t *a, const uint8_t *buf, size_t len, size_t n,
                                 uint64_t **out);

/* Frees a message from crr_codec_unpack (NULL is fine). */
void crr_codec_free(ProtobufCMessage *m);

/* Packs m into a new malloc'd buffer (*out, caller frees) of *len bytes.
 * Returns 0 or -ENOMEM. */
int crr_codec_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len);

/* Packs m into buf (cap bytes). Returns the packed size, or CRR_ETOOBIG when it
 * would not fit (nothing is written then). */
long crr_codec_pack_into(const ProtobufCMessage *m, uint8_t *buf, size_t cap);

#endif
