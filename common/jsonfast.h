/* jsonfast: the fast path of crr_json_parse (common/json.h) for the lines
 * that make up nearly all input: one streaming pass (yajl's callbacks) that
 * maps each key straight to its protobuf-c field, with no JSON tree.
 *
 * It takes only a plain subset it can map exactly as the jansson path does:
 * an object of objects, strings without backslash escapes or control
 * characters, valid UTF-8 (RFC 3629), numbers, true/false; scalar, enum (by
 * name), string, 64-bit integers as decimal strings, and Timestamp fields;
 * every key known, once. Anything else (an array, null, an escape, an
 * unknown key or enum name, a number out of range, a wrapper, any syntax or
 * mapping error) is declined, and crr_json_parse then runs the jansson path,
 * which builds the same message or gives the one error message it always
 * gave. So this file decides speed only, never what a line means.
 *
 * Internal to common/ (json.c calls it). No state; thread-safe. */
#ifndef CRR_JSONFAST_H
#define CRR_JSONFAST_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>

/* crr_json_fast_parse's answer when the line is not in its subset. */
#define CRR_JSONFAST_DECLINED 1

/* Parses text[0..len) into a new message of type desc.
 * Returns 0 (*out set; free with crr_codec_free), CRR_JSONFAST_DECLINED
 * (*out NULL; nothing kept: parse it the slow way), or -ENOMEM (*out NULL;
 * an allocation through common/mem.h failed). */
int crr_json_fast_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        ProtobufCMessage **out);

#endif
