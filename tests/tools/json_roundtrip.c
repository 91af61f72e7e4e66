/* json_roundtrip: drives common/json from the command line, one line at a
 * time, so tests can compare it with Google's json_format.
 *
 *   json_roundtrip [-d] [-o] TYPE MODE < lines
 *
 * TYPE is a crrmon.v1 message name (Event, Snapshot, IndicatorValue, Batch,
 * Ack, StopSearch, ...) or a well-known type (Timestamp, DoubleValue,
 * BytesValue, ...), short or full name. MODE:
 *   json     each input line is JSON; writes its canonical JSON
 *   hex      each input line is JSON; writes the hex of its binary encoding
 *   fromhex  each input line is hex of a binary message; writes canonical JSON
 * -d writes defaults (CRR_JSON_EMIT_DEFAULTS), -o proto field names
 * (CRR_JSON_ORIG_NAMES). A line that fails writes "ERROR <field>: <reason>"
 * and the run goes on; the exit code is 0 unless the arguments are wrong. */
#include "codec.h"
#include "json.h"

#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ProtobufCMessageDescriptor *const s_types[] = {
    &crrmon__v1__event__descriptor,
    &crrmon__v1__training_feedback__descriptor,
    &crrmon__v1__learning_assessment__descriptor,
    &crrmon__v1__behaviour_observation__descriptor,
    &crrmon__v1__attendance__descriptor,
    &crrmon__v1__training_cost__descriptor,
    &crrmon__v1__staff_headcount__descriptor,
    &crrmon__v1__stop_search__descriptor,
    &crrmon__v1__complaint__descriptor,
    &crrmon__v1__racist_incident__descriptor,
    &crrmon__v1__survey_response__descriptor,
    &crrmon__v1__community_engagement__descriptor,
    &crrmon__v1__batch__descriptor,
    &crrmon__v1__rejection__descriptor,
    &crrmon__v1__ack__descriptor,
    &crrmon__v1__indicator_value__descriptor,
    &crrmon__v1__snapshot__descriptor,
    &google__protobuf__timestamp__descriptor,
    &google__protobuf__double_value__descriptor,
    &google__protobuf__float_value__descriptor,
    &google__protobuf__int64_value__descriptor,
    &google__protobuf__uint64_value__descriptor,
    &google__protobuf__int32_value__descriptor,
    &google__protobuf__uint32_value__descriptor,
    &google__protobuf__bool_value__descriptor,
    &google__protobuf__string_value__descriptor,
    &google__protobuf__bytes_value__descriptor,
};

static int s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Converts the canonical JSON of m to stdout; 0 or -1. */
static int s_put_json(const ProtobufCMessage *m, unsigned flags)
{
    char *s = crr_json_dumps(m, flags);
    if (!s) {
        printf("ERROR : cannot write JSON\n");
        return -1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

static void s_line(const ProtobufCMessageDescriptor *desc, const char *mode, unsigned flags,
                   char *line, size_t len)
{
    ProtobufCMessage *m = NULL;
    crr_diag_t d;
    crr_diag_clear(&d);
    if (strcmp(mode, "fromhex") == 0) {
        size_t n = len / 2;
        uint8_t *buf = malloc(n + 1);
        int bad = !buf || len % 2;
        for (size_t i = 0; !bad && i < n; i++) {
            int hi = s_hexval(line[2 * i]), lo = s_hexval(line[2 * i + 1]);
            if (hi < 0 || lo < 0)
                bad = 1;
            else
                buf[i] = (uint8_t)(hi << 4 | lo);
        }
        if (bad || crr_codec_unpack(desc, buf, n, 1u << 30, &m) != 0)
            printf("ERROR : not a binary %s\n", desc->name);
        else
            s_put_json(m, flags);
        free(buf);
        crr_codec_free(m);
        return;
    }
    if (crr_json_parse(desc, line, len, &m, &d) != 0) {
        printf("ERROR %s: %s\n", d.field, d.reason);
        return;
    }
    if (strcmp(mode, "hex") == 0) {
        uint8_t *buf = NULL;
        size_t n = 0;
        if (crr_codec_pack(m, &buf, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                printf("%02x", buf[i]);
            printf("\n");
            free(buf);
        } else {
            printf("ERROR : cannot pack\n");
        }
    } else {
        s_put_json(m, flags);
    }
    crr_codec_free(m);
}

int main(int argc, char **argv)
{
    unsigned flags = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-d") == 0)
            flags |= CRR_JSON_EMIT_DEFAULTS;
        else if (strcmp(argv[i], "-o") == 0)
            flags |= CRR_JSON_ORIG_NAMES;
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: json_roundtrip [-d] [-o] TYPE json|hex|fromhex < lines\n");
        return 2;
    }
    const char *type = argv[i], *mode = argv[i + 1];
    if (strcmp(mode, "json") && strcmp(mode, "hex") && strcmp(mode, "fromhex")) {
        fprintf(stderr, "json_roundtrip: unknown mode %s\n", mode);
        return 2;
    }
    const ProtobufCMessageDescriptor *desc = NULL;
    for (size_t k = 0; k < sizeof s_types / sizeof s_types[0]; k++)
        if (strcmp(s_types[k]->short_name, type) == 0 || strcmp(s_types[k]->name, type) == 0)
            desc = s_types[k];
    if (!desc) {
        fprintf(stderr, "json_roundtrip: unknown type %s\n", type);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        s_line(desc, mode, flags, line, (size_t)n);
        fflush(stdout);
    }
    free(line);
    return 0;
}
