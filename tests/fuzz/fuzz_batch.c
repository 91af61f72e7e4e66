/* fuzz_batch: a frame as the aggregator's ROUTER receives it: bounded unpack
 * as a Batch, then every event through validation and the JSON codec (both
 * ways), as the apply and reject paths would; the same bytes through the
 * group arena the aggregator really unpacks into; and as an Ack, as a sender
 * receives them. */
#include "fuzz.h"

#include "codec.h"
#include "json.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Crrmon__V1__Batch *b = NULL;
    if (crr_codec_unpack_batch(data, size, 1 << 20, &b) == 0) {
        crr_validate_opts_t vo = {
            .now_sec = 1772366400, .future_slack_sec = 300, .max_age_days = 395};
        for (size_t i = 0; i < b->n_events; i++) {
            crr_diag_t d;
            crr_diag_clear(&d);
            crr_validate_event(b->events[i], &vo, &d);
            crr_event_type_name(b->events[i]);
            char *text = crr_json_dumps(&b->events[i]->base, 0);
            if (text) {
                ProtobufCMessage *back = NULL;
                crr_json_parse(&crrmon__v1__event__descriptor, text, strlen(text), &back, &d);
                crr_codec_free(back);
                free(text);
            }
        }
        uint8_t *out = NULL;
        size_t len = 0;
        if (crr_codec_pack(&b->base, &out, &len) == 0)
            free(out);
        crr_codec_free(&b->base);
    }
    /* the aggregator's own path: the group arena (static: one per process, as there) */
    static crr_codec_arena_t *arena;
    if (!arena && crr_codec_arena_new(&arena) != 0)
        return 0;
    Crrmon__V1__Batch *ab = NULL;
    if (crr_codec_unpack_batch_arena(arena, data, size, 1 << 20, &ab) == 0)
        for (size_t i = 0; i < ab->n_events; i++)
            crr_event_type_name(ab->events[i]);
    crr_codec_arena_reset(arena);
    Crrmon__V1__Ack *a = NULL;
    if (crr_codec_unpack_ack(data, size, 1 << 20, &a) == 0)
        crr_codec_free(&a->base);
    return 0;
}
