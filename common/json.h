/* json: the proto3 canonical JSON mapping for any protobuf-c message, driven
 * by its descriptor (no per-type code), on top of jansson.
 *
 * Writing (message -> JSON), as Google's json_format does:
 *   - names are lowerCamelCase derived from the proto field name
 *     ("n_eff" -> "nEff"), or the proto names with CRR_JSON_ORIG_NAMES;
 *   - int64/uint64/sint64/fixed64/sfixed64 are JSON strings ("123"); 32-bit
 *     integers are numbers; float/double are numbers, NaN and the infinities
 *     the strings "NaN", "Infinity", "-Infinity"; bytes are base64 (RFC 4648,
 *     padded); enums are their full value names ("ETHNICITY_BLACK"), a number
 *     that the enum does not name is written as the number;
 *   - maps (a repeated nested "...Entry" message with key = 1, value = 2) are
 *     JSON objects; of a oneof only the member that is set is written;
 *   - google.protobuf.Timestamp is RFC 3339 UTC ("2026-01-02T03:04:05Z", with
 *     0, 3, 6 or 9 fractional digits); the wrappers (DoubleValue, Int64Value,
 *     ...) are their bare value;
 *   - fields holding their proto3 default (0, "", false, empty repeated or
 *     map, unset message) are left out, unless CRR_JSON_EMIT_DEFAULTS: then
 *     every scalar, enum, repeated ([]) and map ({}) field is written; unset
 *     message fields (wrappers included) and unset oneof members are still
 *     left out (json_format's including_default_value_fields=True).
 *
 * Reading (JSON -> message): both the lowerCamelCase and the proto name are
 * accepted; enums by full name or by number (an unknown name is an error, a
 * number is kept as it is: validation rejects unknown numbers); 64-bit
 * integers from strings or numbers; 32-bit integers from numbers or numeric
 * strings, range-checked, non-integers rejected; floats from numbers, numeric
 * strings, "NaN", "Infinity", "-Infinity"; bytes from standard or URL-safe
 * base64, padded or not; null means the default; Timestamps from RFC 3339
 * with any offset; wrappers from bare values. Errors: an unknown field, a
 * field given twice (both spellings), a second member of a oneof, a value of
 * the wrong JSON type or out of range.
 *
 * Limits: integers above INT64_MAX must be given as strings (jansson's
 * integers are signed 64-bit); jansson writes every real of one dump with the
 * same number of significant digits: crr_json_dumps picks the fewest that
 * read every one back exactly (0.1 stays 0.1 unless another value needs 17),
 * a caller dumping crr_json_from_message's tree itself gets jansson's 17
 * unless it passes JSON_REAL_PRECISION; Duration, Struct, Value, Any and
 * FieldMask get no special mapping.
 *
 * Thread safety: no state; any thread may call any function. */
#ifndef CRR_JSON_H
#define CRR_JSON_H

#include "err.h"

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include <stddef.h>

#define CRR_JSON_EMIT_DEFAULTS 1u /* write fields holding defaults too (snapshot export) */
#define CRR_JSON_ORIG_NAMES 2u    /* write proto field names instead of lowerCamelCase */

/* Converts message m to a new jansson value (an object, or a string/number
 * for a top-level Timestamp or wrapper). flags: CRR_JSON_* bits.
 * Strings that are not valid UTF-8 (protobuf-c does not check on unpack)
 * have each bad byte replaced by U+FFFD, so any message can be written.
 * Returns a new reference (caller json_decref()s it), or NULL when out of
 * memory, for any member too (never a tree missing one), or m is NULL. */
json_t *crr_json_from_message(const ProtobufCMessage *m, unsigned flags);

/* The text every CSV writer gives a double (the CSV sink, `crrmon generate
 * --format csv`): %g with the fewest of 15, 16 or 17 significant digits that
 * reads back as v. Writes into buf (32 bytes are enough) and returns it. */
const char *crr_double_text(double v, char *buf, size_t len);

/* Converts m to one compact line of JSON (no newline), keys in field order,
 * reals with the fewest digits that read back exactly (see Limits above).
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL as
 * crr_json_from_message. */
char *crr_json_dumps(const ProtobufCMessage *m, unsigned flags);

/* json_dumps(j, flags) that never returns damaged text: jansson's writer
 * leaves out what it could not allocate (a key, a string) and goes on, so a
 * dump during which an allocation of this thread failed (common/mem.h counts
 * them) is thrown away. Returns a malloc'd string the caller frees, or NULL
 * (j NULL, or out of memory). */
char *crr_json_dump_checked(const json_t *j, size_t flags);

/* A JSON string of at most max bytes of UTF-8 made from s[0..len): each
 * byte that is not part of valid UTF-8 (RFC 3629) becomes U+FFFD, and the
 * text is cut before the first character that would not fit whole, so a cut
 * never splits a character and the result always dumps. Embedded NULs are
 * kept (jansson writes \u0000). For stored raw text of rejected input, which
 * may be anything. Returns a new reference, or NULL when s is NULL or out of
 * memory. */
json_t *crr_json_text(const char *s, size_t len, size_t max);

/* 1 when s[0..len) is valid UTF-8 (RFC 3629), else 0. */
int crr_json_is_utf8(const char *s, size_t len);

/* Replaces, in place, each byte of the NUL-terminated s that is not part of
 * valid UTF-8, and each control character, by '?', so that text quoted from
 * input (a reason, a field) can go into a protobuf string or a log line. */
void crr_json_clean(char *s);

/* Builds a message of type desc from the jansson value in (borrowed, not
 * modified). On success returns 0 and sets *out to a heap message that the
 * caller frees with crr_codec_free() (protobuf_c_message_free_unpacked(m,
 * NULL)). On failure *out is NULL, nothing is leaked and the return is
 * CRR_EPARSE with d (if not NULL) filled by crr_diag_set: code
 * REJECT_CODE_MALFORMED (1), field the dotted proto path at fault (e.g.
 * "stop_search.outcome", "values[2].dims"), reason a sentence; d's file and
 * line are kept. Returns -ENOMEM when an allocation fails (d says so too). */
int crr_json_to_message(const ProtobufCMessageDescriptor *desc, json_t *in, ProtobufCMessage **out,
                        crr_diag_t *d);

/* Parses text[0..len) (one JSON value; duplicate keys rejected) and builds a
 * message of type desc as crr_json_to_message. A plain line (see
 * common/jsonfast.h) is read in one streaming pass with no JSON tree, giving
 * the same message; every other line, errors included, is read by jansson as
 * described here, so the result never depends on which path read it. JSON syntax errors return
 * CRR_EPARSE with the column and jansson's text in d->reason and an empty
 * d->field. Out of memory inside jansson is -ENOMEM, never CRR_EPARSE (the
 * line is not at fault), also when jansson went on after the failure (its
 * lexer drops a character it cannot save: such a tree is discarded). Same
 * codes and ownership as crr_json_to_message. */
int crr_json_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                   ProtobufCMessage **out, crr_diag_t *d);

#endif
