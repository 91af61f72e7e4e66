/* reply: the answers every HTTP handler queues (reply.h). Owns no state. */
#include "reply.h"

#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result crr_reply_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Queues text (taken over, not NULL) with type and, when allow is set, the
 * Allow header. */
static enum MHD_Result s_body(struct MHD_Connection *c, unsigned status, char *text,
                              const char *type, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (strncmp(type, "application/json", 16) == 0)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    return crr_reply_queue(c, status, r);
}

/* The 500 answered when a body could not be built. */
static enum MHD_Result s_nomem(struct MHD_Connection *c)
{
    char *text = strdup("{\"error\":\"out of memory\"}");
    return text ? s_body(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "application/json", NULL)
                : MHD_NO;
}

enum MHD_Result crr_reply_text(struct MHD_Connection *c, unsigned status, char *text,
                               const char *type)
{
    return text ? s_body(c, status, text, type, NULL) : s_nomem(c);
}

/* Dumps body (taken over) and queues it with allow (NULL = no Allow). */
static enum MHD_Result s_json(struct MHD_Connection *c, unsigned status, json_t *body,
                              const char *allow)
{
    char *text = crr_json_dump_checked(body, JSON_COMPACT);
    json_decref(body);
    return text ? s_body(c, status, text, "application/json", allow) : s_nomem(c);
}

enum MHD_Result crr_reply_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    return s_json(c, status, body, NULL);
}

/* {"error": fmt...} (a new reference, or NULL when out of memory). */
static json_t *s_error_body(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static json_t *s_error_body(const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return json_pack("{s:s}", "error", msg);
}

enum MHD_Result crr_reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *body = s_error_body(fmt, ap);
    va_end(ap);
    return s_json(c, status, body, NULL);
}

enum MHD_Result crr_reply_405(struct MHD_Connection *c, const char *allow, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *body = s_error_body(fmt, ap);
    va_end(ap);
    return s_json(c, MHD_HTTP_METHOD_NOT_ALLOWED, body, allow);
}
