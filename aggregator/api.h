/* api: the aggregator's JSON read API, readiness and the /metrics series
 * beyond the ingest counters (api.c). http.c routes to it; ingest.c feeds it
 * the Ack latencies and the rejections by borough; loop.c keeps its
 * readiness flag. A header of its own because it speaks libmicrohttpd's types
 * (aggregator.h stays free of them).
 *
 *   GET /readyz                  200 {"ready":true} while the store is open, the main loop
 *                                serves and the ingest endpoint is bound; else 503
 *                                {"ready":false,"reason":..}
 *   GET /api/v1/indicators       ?borough=&indicator=&window=&as_of=: the rows a snapshot
 *                                as of then holds, computed now in a read transaction
 *   GET /api/v1/boroughs         the 33 boroughs: name, last event, events today, rejects
 *   GET /api/v1/series           ?indicator=&borough=: 12 monthly values (state/series.h)
 *   GET /api/v1/sources          every (source, epoch): applied seq, last seen, spool depth
 *   GET /api/v1/rejects          ?limit=&after=: stored rejects, oldest first
 *   GET /api/v1/snapshots        the stored snapshots (POST stays http.c's: take one)
 *   GET /api/v1/snapshots/ID     one stored snapshot
 * Errors are {"error":..}: 400 a bad parameter (unknown ones too), 404 an
 * unknown snapshot id, 405 a method other than GET/HEAD, 503 the store
 * cannot be read. JSON is proto3's (common/json.h: lowerCamelCase, uint64
 * as strings, RFC 3339 times, absent values left out).
 *
 * Threading: every function but crr_api_init/free/set_ref runs on any
 * thread. Handlers run on libmicrohttpd's connection threads and read the
 * store in their own read transactions (the env is MDB_NOTLS); the
 * reference data is a copy taken under the module's mutex (the main thread
 * replaces it on reload); counters are atomics. */
#ifndef CRR_API_H
#define CRR_API_H

#include "aggregator.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>

/* Allocates a->api and copies a->ref into it. Main thread, before HTTP opens.
 * Returns 0 or -ENOMEM. */
int crr_api_init(crr_aggregator_t *a);

/* Frees a->api (after HTTP closed). Safe when not initialised. */
void crr_api_free(crr_aggregator_t *a);

/* The reference data changed (reload): copies a->ref and a->have_ref under
 * the module's mutex. Main thread. No-op before crr_api_init. */
void crr_api_set_ref(crr_aggregator_t *a);

/* GET /readyz (open to all, as /healthz). Returns MHD's result. */
enum MHD_Result crr_api_readyz(crr_aggregator_t *a, struct MHD_Connection *c, const char *method);

/* Answers url when it is one of the endpoints above (GET /api/v1/snapshots
 * only: a POST there is left to http.c): returns 1 and sets *ret. Returns 0
 * when url is not this module's. The caller has authorised the request. */
int crr_api_route(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                  const char *method, enum MHD_Result *ret);

/* Writes the module's Prometheus series into f (text format 0.0.4):
 * crrmon_source_last_seen_seconds{source}, crrmon_source_applied_seq{source}
 * (the newest epoch's), crrmon_borough_last_event_seconds{borough},
 * crrmon_ack_latency_seconds (histogram) and crrmon_indicator_value
 * {indicator,borough,window} (total rows with a value, now). */
void crr_api_metrics(crr_aggregator_t *a, FILE *f);

/* One Ack sent ns nanoseconds after its frame was received (ingest.c). */
void crr_api_ack_observe(crr_aggregator_t *a, uint64_t ns);

/* Counts the NEW rejections of an applied job by the borough of their event
 * (resent ones were counted when they first came). Main thread (ingest.c). */
void crr_api_count_rejects(crr_aggregator_t *a, const crr_store_job_t *job);

#endif
