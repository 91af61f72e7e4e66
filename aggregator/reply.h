/* reply: how every HTTP handler of the aggregator answers (http.c, api.c,
 * dashboard.c, stream.c): a body taken over and queued with its Content-Type and the
 * header every answer carries (X-Content-Type-Options: nosniff); JSON
 * answers also carry Cache-Control: no-store; errors are {"error": "..."};
 * a 405 names the methods allowed (Allow). A JSON body is dumped with
 * crr_json_dump_checked, so an allocation failure never sends damaged text:
 * out of memory becomes 500 {"error":"out of memory"} where even that can be
 * built, else MHD_NO (libmicrohttpd closes the connection).
 *
 * Owns no state; any thread (libmicrohttpd's connection threads). Not the
 * routing or the roles (http.c), not what a body says (each handler). */
#ifndef CRR_AGG_REPLY_H
#define CRR_AGG_REPLY_H

#include <jansson.h>
#include <microhttpd.h>

/* Queues r with status and the common header, then destroys r. Returns
 * MHD_NO when r is NULL (its creation failed) or queueing failed. */
enum MHD_Result crr_reply_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);

/* Queues text (malloc'd, taken over; NULL = out of memory: a 500) as a body
 * of the given Content-Type. */
enum MHD_Result crr_reply_text(struct MHD_Connection *c, unsigned status, char *text,
                               const char *type);

/* Queues body (a reference taken over; NULL = out of memory: a 500) as one
 * compact line of JSON. */
enum MHD_Result crr_reply_json(struct MHD_Connection *c, unsigned status, json_t *body);

/* Queues {"error": printf(fmt, ...)} (cut at 511 bytes) with status. */
enum MHD_Result crr_reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A 405: {"error": printf(fmt, ...)} with Allow: allow (e.g. "GET, HEAD"). */
enum MHD_Result crr_reply_405(struct MHD_Connection *c, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
