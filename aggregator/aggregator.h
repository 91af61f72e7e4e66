/* aggregator: the map of crrmon-aggregator (Redis's server.h style): the
 * modules, one line each, the one context struct every module receives, and
 * the prototypes grouped under one banner per file.
 *
 *   main.c      flags/config, signals, data-folder lock, start-up and shut-down order
 *   config.c    the config-map table (aggregator + every sink's map spliced in),
 *               windows and schedules parsing
 *   schedule.c  schedule specs (`every 15m`, `daily 02:00`, `monthly 1 03:00`), next due time
 *   loop.c      the poll loop: signal flags, reload, timers, ROUTER/monitor/HTTP pipe
 *   ingest.c    ROUTER socket + monitor, group commit: receive -> apply -> acknowledge
 *   feed.c      PUB live feed and its Clone state ROUTER: the main thread's side (tells the
 *               feed worker which boroughs a committed group touched, publishes what it made)
 *   feedwork.c  the feed worker thread: headline rows in a read transaction, at most once a
 *               second, diffed against the state it holds; answers the Clone state requests
 *   stream.c    GET /api/v1/stream: Server-Sent Events from a bounded replay ring
 *   http.c      libmicrohttpd, a thread per connection: /healthz, /api/v1/stats, /metrics,
 *               POST /api/v1/snapshots (coalesced)
 *   reply.c     how every handler answers: JSON, text, errors, 405s (reply.h)
 *   api.c       the JSON read API (/api/v1/indicators, boroughs, series, sources, rejects,
 *               snapshots), /readyz and the per-source, per-borough and indicator series of
 *               /metrics (api.h: it speaks libmicrohttpd's types)
 *   dashboard.c the live dashboard: GET /, /static/NAME (aggregator/web/ compiled in),
 *               GET /api/v1/dashboard-config
 *   snapshot.c  snapshot on demand and on schedule, queued for the sinks (the outbox); pruning
 *   deliver.c   the delivery thread: writes queued snapshots through the sinks, retries, records
 *   snapwork.c  the snapshot worker thread: computes a snapshot's rows off the ingest thread
 *   reload.c    SIGHUP: re-read the config, apply what can change live, refuse a bad one
 *   zap.c       CURVE on the ingest and feed sockets, the ZAP handler thread (RFC 27) with
 *               the admitted certificates, the per-batch key, borough and source-owner check,
 *               dropping every peer of a socket whose folder lost a key on SIGHUP
 *
 * Threading: the main thread owns the store's aggregates (the only writer of
 * everything but the delivery records), every zmq socket but the HTTP end of
 * the request pipe and the snapshot worker's end of its pipe, and the
 * scheduler. libmicrohttpd runs a listening thread and one thread per
 * connection; they read counters (atomics), answer the read API in their own
 * LMDB read transactions (api.c) and hand snapshot requests to the
 * main loop over an inproc PAIR ("inproc://crr-agg-http"), one at a time
 * (http.c's mutex), waiting for the answer. The snapshot worker (snapwork.c)
 * computes a snapshot's rows in a read transaction; the main thread stores
 * it. The delivery thread (deliver.c) owns the open sinks and writes the
 * outcome records of deliveries (short write transactions, serialised with
 * the main thread's by LMDB). The feed worker (feedwork.c) computes the
 * headline rows in read transactions, owns the Clone state ROUTER and hands
 * the FeedMessages it makes to the main thread (which owns the PUB) through
 * a queue under its mutex and a wake-up PAIR ("inproc://crr-agg-feedwork");
 * it pushes their JSON to the SSE ring (stream.c), which the HTTP connection
 * threads read under the ring's mutex. The signal flags (stop, reload), the log level
 * and the sink instances found at start (config.c) are the only globals. */
#ifndef CRR_AGGREGATOR_H
#define CRR_AGGREGATOR_H

#include "cfg.h"
#include "codec.h"
#include "err.h"
#include "refdata.h"
#include "sink.h"
#include "store.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define CRR_AGG_MAX_SINKS 16     /* sink instances ([sink.NAME] sections and the defaults) */
#define CRR_AGG_MAX_SCHEDULES 16 /* named schedules */
#define CRR_AGG_MAX_FRAMES 4096  /* frames received into one group at most */
#define CRR_AGG_BOROUGHS 33      /* the London boroughs (common/boroughs.h) */
#define CRR_AGG_ACK_BUCKETS 15   /* Ack latency histogram buckets, +Inf included (api.c) */

/* The HTTP server's limits, which must agree with each other and with the
 * store's reader slots (checked at compile time in http.c):
 *   streams (GET /api/v1/stream at once, stream.c) < connections from one
 *   client address (a dashboard wall behind one proxy reaches the stream
 *   limit and still has room for its API requests) <= connections in all;
 *   connections in all + the aggregator's own readers (main loop, feed,
 *   snapshot and delivery workers) < CRR_STORE_MAX_READERS (store.h), since
 *   each connection's thread holds at most one read transaction. */
#define CRR_HTTP_CONN_LIMIT 256                      /* connections in all */
#define CRR_HTTP_STREAMS 64                          /* SSE streams at once (503 past them) */
#define CRR_HTTP_CONN_PER_IP (CRR_HTTP_STREAMS + 64) /* connections from one address */
#define CRR_AGG_OWN_READERS (CRR_AGG_MAX_SINKS + 16) /* read transactions of its own threads */

/* ---------------------------------------------------------------- config.c */

/* Everything the aggregator reads from its config map (read-only after load). */
typedef struct crr_agg_config {
    char *data_dir;                /* DATA_DIR: store/, lock, endpoints.json, snapshots/ */
    char *ingest;                  /* ROUTER endpoint to bind */
    char *feed;                    /* PUB endpoint to bind */
    char *feed_state;              /* Clone state ROUTER endpoint; "" = the feed's, port + 1 */
    int64_t feed_period;           /* ms between two feed computations at least; 0 = none */
    char *http;                    /* HTTP ADDR:PORT (port 0 or * = any) */
    int insecure;                  /* [security] insecure: plain TCP allowed when no server_cert */
    char *server_cert;             /* [security] server_cert: the aggregator's secret certificate */
    char *clients_dir;             /* [security] clients_dir: admitted collectors' public certs */
    char *feed_clients_dir;        /* [security] feed_clients_dir: admitted feed subscribers */
    char *log_level;               /* error|warn|info|debug */
    char *log_format;              /* text|json (common/log.h) */
    uint64_t max_msg_size;         /* ZMQ_MAXMSGSIZE of the ROUTER, bytes */
    int64_t rcvhwm;                /* ZMQ_RCVHWM of the ROUTER, messages */
    int64_t sndhwm;                /* ZMQ_SNDHWM of the ROUTER and the PUB, messages */
    int64_t group_max_events;      /* close a group at this many events */
    int64_t group_max_ms;          /* ... or this long after its first frame */
    uint64_t map_size;             /* LMDB map size */
    int start_empty;               /* an empty (0-byte) store data file starts empty, not exit 78 */
    char *windows;                 /* "30,90,365" */
    char *schedules;               /* "name=spec;name=spec" */
    char *tz;                      /* aggregator.timezone: the schedules' time zone (at start) */
    char *snapshot_dir;            /* folder of the file sinks; "" = DATA_DIR/snapshots */
    int64_t snapshot_max_age;      /* ms; stored snapshots older are pruned; 0 = keep */
    int64_t reject_max_age;        /* ms; stored rejects older are pruned; 0 = keep */
    int64_t prune_interval;        /* ms between prunes */
    int64_t bucket_max_age;        /* ms; buckets, record ids and the too_old limit; 0 = longest
                                      window + 30 days */
    char *sinks;                   /* comma list of sink names, e.g. "jsonl,csv" */
    int64_t delivery_max_attempts; /* a delivery failing this many times is dead (0 = never) */
    int64_t delivery_backoff;      /* ms before the first retry (doubled per attempt) */
    int64_t delivery_backoff_max;  /* ms, the longest wait between two attempts */
    char *ref_boroughs;            /* borough list CSV (bare name: shipped data; "" = none) */
    char *ref_population; /* population CSV (default shipped; "" = none: rate rows absent) */
    /* [http] (http.c): TLS and users; "" = not configured */
    char *http_tls_cert;      /* PEM certificate chain */
    char *http_tls_key;       /* PEM private key (mode 0600 or stricter) */
    char *http_users_file;    /* users file (users.h) */
    int64_t http_stale_after; /* ms: the dashboard marks a borough stale after this (dashboard.c) */
    int64_t http_stream_replay; /* messages the SSE ring keeps (stream.c) */
    int64_t http_metrics_cache; /* ms: /metrics' indicator values are reused this long (api.c) */
    union {
        max_align_t align;
        unsigned char bytes[CRR_SINK_CONFIG_MAX];
    } sink_cfg[CRR_AGG_MAX_SINKS]; /* each sink instance's config struct (crr_agg_sink_instance) */
    char *sink_type[CRR_AGG_MAX_SINKS]; /* each instance's `type` key (read at start) */
} crr_agg_config_t;

/* Builds the full config table: the aggregator's entries plus, per sink
 * instance, a `type` key and its type's map (section "sink.NAME", offsets
 * moved into sink_cfg[slot]). The instances are every [sink.NAME] section of
 * argv's --config file and every --sink.NAME.type flag (type = NAME when not
 * given), plus one per compiled-in type not named so; they are fixed for the
 * process (an instance added to the file needs a restart). An unknown type
 * is reported on stderr and left out (the loader then refuses its section
 * with file:line). Returns a malloc'd table the caller frees, or NULL (out
 * of memory). Main thread, before anything else reads the instances. */
crr_cfg_entry_t *crr_agg_config_table(int argc, char **argv);

/* The sink instance called name: its type and the slot of its config
 * (crr_agg_config_t.sink_cfg[slot]). Returns 0 or CRR_ENOTFOUND. */
int crr_agg_sink_instance(const char *name, const crr_sink_ops_t **ops, size_t *slot);

/* Checks a log level name (error|warn|info|debug): 0, or -1 with why set. */
int crr_agg_check_log_level(const char *v, char *why, size_t len);

/* Parses "30,90,365" into out (at most max entries, each 1..3650 days).
 * Returns the count (>= 1) or CRR_ECONFIG with d set. */
int crr_agg_parse_windows(const char *text, unsigned *out, size_t max, crr_diag_t *d);

/* Resolves aggregator.bucket_max_age into whole days (rounded up): 0 gives the
 * longest of the nw windows plus 30. Returns 0 and *days, or CRR_ECONFIG with
 * d set when it is shorter than the longest window (which it must serve). */
int crr_agg_bucket_max_age_days(int64_t bucket_max_age_ms, const unsigned *windows, size_t nw,
                                int64_t *days, crr_diag_t *d);

/* ---------------------------------------------------------------- schedule.c */

typedef enum {
    CRR_SCHED_EVERY,
    CRR_SCHED_DAILY,
    CRR_SCHED_WEEKLY,
    CRR_SCHED_MONTHLY
} crr_sched_kind_t;

/* One named schedule. */
typedef struct crr_schedule {
    char name[64];         /* the schedule's name, written into Snapshot.schedule */
    crr_sched_kind_t kind; /* every / daily / weekly / monthly */
    int64_t period_sec;    /* every: period (aligned to multiples since the epoch, UTC) */
    int day;               /* monthly: day of month 1..31 (clamped to the month's last day);
                              weekly: day of week 0 = sunday .. 6 */
    int minute_of_day;     /* daily/weekly/monthly: HH*60+MM, local time */
    char sinks[256];       /* the sink instances it feeds ("a,b"); "" = aggregator.sinks */
    int64_t next_sec;      /* next due time (crr_schedule_next) */
} crr_schedule_t;

/* Parses one spec: "every 15m" (a duration >= 1s, whole seconds), "hourly",
 * "daily HH:MM", "weekly mon HH:MM" or "monthly D HH:MM" (local time).
 * Returns 0 (s filled, name untouched) or CRR_ECONFIG with d saying what is
 * allowed. */
int crr_schedule_parse(const char *spec, crr_schedule_t *s, crr_diag_t *d);

/* Parses "name=spec;name=spec" (a bare spec is named after itself with '-'
 * for spaces; names [A-Za-z0-9._-], unique). A spec may end with "@ a,b":
 * the sink instances that schedule feeds (into sinks; without it,
 * aggregator.sinks). Returns the count (0 for "") or CRR_ECONFIG with d set. */
int crr_schedule_parse_list(const char *text, crr_schedule_t *out, size_t max, crr_diag_t *d);

/* The first due time strictly after t_sec, in the process's time zone (TZ):
 * a local time that does not exist fires at the next valid minute, one that
 * occurs twice fires once (its first occurrence). */
int64_t crr_schedule_next(const crr_schedule_t *s, int64_t t_sec);

/* The slots of s in (last, now]: returns how many and sets *latest to the
 * most recent (0 when none). Counting stops at a million. */
size_t crr_schedule_missed(const crr_schedule_t *s, int64_t last, int64_t now, int64_t *latest);

/* ---------------------------------------------------------------- the context */

/* Counters, written by the main thread and read by the HTTP thread. */
typedef struct crr_agg_stats {
    _Atomic uint64_t frames;     /* frames received */
    _Atomic uint64_t batches;    /* frames that parsed as a Batch */
    _Atomic uint64_t events;     /* events received in batches */
    _Atomic uint64_t applied;    /* events applied to the aggregates */
    _Atomic uint64_t duplicates; /* events skipped as duplicates (record_id seen before) */
    _Atomic uint64_t resent;     /* events received again under a seq already applied */
    _Atomic uint64_t rejected;   /* events rejected (validation), each counted once */
    _Atomic uint64_t rejected_by_code[CRR_REJECT_CODES]; /* the same, by reject code */
    _Atomic uint64_t malformed;                          /* frames refused as MALFORMED */
    _Atomic uint64_t oversized; /* of those, frames over a limit (events per batch, unpack size) */
    _Atomic uint64_t rejects_unstored; /* rejections past the reject storage caps (not stored) */
    _Atomic uint64_t groups;           /* groups committed */
    _Atomic uint64_t apply_failures;   /* groups whose apply failed (no Acks sent) */
    _Atomic uint64_t batch_failures;   /* batches left out or not unpacked (store_failed Ack) */
    _Atomic uint64_t acks;             /* Acks sent */
    _Atomic uint64_t ack_failures;     /* Acks that could not be delivered */
    _Atomic uint64_t disconnects;      /* peer connections dropped (oversized frames among them) */
    _Atomic uint64_t protocol_errors;  /* handshakes failed on protocol (monitor) */
    _Atomic uint64_t auth_failures;    /* handshakes refused by ZAP: unknown or revoked key */
    _Atomic uint64_t snapshots;        /* snapshots taken */
    _Atomic uint64_t sink_failures;    /* sink writes that failed */
    _Atomic uint64_t prunes; /* prunes committed (buckets, record ids, snapshots, rejects) */
    _Atomic uint64_t rejected_by_borough[CRR_AGG_BOROUGHS]; /* new rejections by event borough */
    _Atomic uint64_t ack_latency_le[CRR_AGG_ACK_BUCKETS]; /* Acks by receive-to-Ack latency (api.c's
                                                             bounds; not cumulative) */
    _Atomic uint64_t ack_latency_count;                   /* Acks timed */
    _Atomic uint64_t ack_latency_sum_ns;                  /* their latencies summed */
} crr_agg_stats_t;

/* One open sink instance. */
typedef struct crr_agg_sink {
    char name[64];             /* instance name (delivery records, logs) */
    const crr_sink_ops_t *ops; /* the implementation (registry) */
    int in_default;            /* listed in aggregator.sinks (on-demand snapshots go to it) */
    void *state;               /* its open state */
} crr_agg_sink_t;

/* A group being received (buffers reused from group to group). */
typedef struct crr_agg_slot {
    uint8_t id[256];          /* ROUTER routing id of the sender */
    size_t id_len;            /* bytes in id */
    Crrmon__V1__Batch *batch; /* unpacked batch, or NULL when malformed */
    uint64_t *event_hash;     /* each event's resend hash (crr_codec_batch_event_hashes), or NULL */
    char error[256];          /* why the frame was malformed or refused */
    int refused;              /* a REJECT_CODE the whole batch was refused with (zap.c), or 0 */
    uint64_t recv_ns;         /* CLOCK_MONOTONIC when its frame was received (Ack latency) */
} crr_agg_slot_t;

typedef struct crr_http crr_http_t;
typedef struct crr_deliver crr_deliver_t;
typedef struct crr_snapwork crr_snapwork_t;
typedef struct crr_zap crr_zap_t;
typedef struct crr_feedwork crr_feedwork_t;
typedef struct crr_stream crr_stream_t;
typedef struct crr_api crr_api_t;

/* The aggregator: one per process, passed explicitly to every module. */
typedef struct crr_aggregator {
    crr_agg_config_t cfg;                    /* loaded configuration */
    crr_cfg_entry_t *cfg_table;              /* the table cfg was loaded with (frees its strings) */
    int argc;                                /* the command line, kept for reloads */
    char **argv;                             /* (main's argv, borrowed) */
    unsigned windows[CRR_STORE_MAX_WINDOWS]; /* parsed windows */
    size_t nwindows;                         /* entries in windows */
    int64_t max_age_days;                    /* bucket_max_age in whole days (resolved) */
    crr_schedule_t schedules[CRR_AGG_MAX_SCHEDULES]; /* parsed schedules */
    size_t nschedules;                               /* entries in schedules */
    char snapshot_dir[4096];                         /* absolute snapshot folder */
    crr_refdata_t ref;                               /* reference data (population) */
    int have_ref;                                    /* ref was loaded */
    int lock_fd;                                     /* flock on DATA_DIR/lock, -1 when not held */
    crr_store_t *store;                              /* LMDB state (main thread writes) */
    void *zctx;                                      /* zmq context */
    void *router;                                    /* ingest ROUTER */
    void *monitor;                                   /* PAIR reading the ROUTER's monitor events */
    void *pub;                                       /* live feed PUB */
    void *http_pipe;                                 /* main end of the HTTP request PAIR */
    crr_http_t *http;                                /* the HTTP server */
    crr_zap_t *zap;                                  /* CURVE keys and ZAP handler, or NULL */
    char ingest_ep[256];                             /* ROUTER endpoint as bound */
    char feed_ep[256];                               /* PUB endpoint as bound */
    char http_ep[256];                               /* HTTP ADDR:PORT as bound */
    void *feed_state;        /* the Clone state ROUTER (the feed worker's once it runs) */
    char feed_state_ep[256]; /* its endpoint as bound */
    void *feed_pipe;         /* main end of the feed worker's PAIR (feedwork.c) */
    crr_feedwork_t *feedw;   /* the feed worker, or NULL */
    crr_stream_t *stream;    /* the SSE replay ring (stream.c), or NULL */
    uint64_t feed_run;       /* this run's feed run_id (random, never 0; set by crr_feed_open,
                                read-only after) */
    crr_agg_sink_t sinks[CRR_AGG_MAX_SINKS]; /* open sinks (the delivery thread's once
                                                it runs; main only calls locate) */
    size_t nsinks;                           /* entries in sinks */
    crr_deliver_t *_Atomic deliver; /* the delivery thread, or NULL (set by main, read by HTTP) */
    void *snap_pipe;       /* main end of the snapshot worker's wake-up PAIR (snapwork.c) */
    crr_snapwork_t *snapw; /* the snapshot worker, or NULL */
    MDB_dbi db_schedules;  /* store db "schedules": name -> be64 as_of of its last slot taken */
    int have_schedules;    /* db_schedules is open */
    int sched_started;     /* schedules were initialised once (catch-up runs at start only) */
    int catch_up;          /* the snapshot being taken is a catch-up (snapshot.c's hook reads it) */
    crr_agg_slot_t *slots; /* group receive slots (CRR_AGG_MAX_FRAMES) */
    crr_codec_arena_t *arena;       /* the group's unpacked batches, released at the group's end */
    crr_store_job_t *jobs;          /* store jobs, parallel to the batches in slots */
    size_t *job_slot;               /* jobs[i] came from slots[job_slot[i]] */
    uint8_t *ackbuf;                /* reused Ack pack buffer */
    size_t ackcap;                  /* bytes in ackbuf */
    uint64_t next_prune_ms;         /* monotonic time of the next prune */
    atomic_int stopping;            /* set when shutting down (HTTP answers 503) */
    _Atomic int64_t stale_after_ms; /* [http] stale_after as the HTTP threads read it
                                       (crr_dashboard_configure: start and reload) */
    atomic_int serving;             /* the loop runs with the ingest endpoint bound (GET /readyz) */
    crr_api_t *api;                 /* api.c's state (the reference data copy), or NULL */
    crr_agg_stats_t stats;          /* counters */
} crr_aggregator_t;

/* ---------------------------------------------------------------- loop.c */

/* Runs the main poll loop until *stop is set (main.c's SIGTERM/SIGINT flag):
 * groups and their Acks (ingest.c), monitor events, HTTP requests, schedules
 * and pruning. When *reload is set (SIGHUP) it clears it and calls
 * crr_agg_reload between two steps. A stop finishes the group in hand.
 * The flags are borrowed. Returns 0. */
int crr_agg_loop_run(crr_aggregator_t *a, volatile sig_atomic_t *stop,
                     volatile sig_atomic_t *reload);

/* ---------------------------------------------------------------- reload.c */

/* Handles SIGHUP (main thread, from loop.c): re-reads the config and
 * applies what can change without a restart, logs each changed key and each
 * one that needs a restart, or refuses the whole file with one error line
 * and keeps running on the old configuration. Either way it re-reads the
 * certificate folders (crr_zap_reload) and the HTTP users file. */
void crr_agg_reload(crr_aggregator_t *a);

/* The snapshot folder for cfg (cfg->snapshot_dir, or data_dir/snapshots),
 * created if needed, as an absolute path in out. 0 or -errno (logged). */
int crr_agg_snapshot_dir(const crr_agg_config_t *cfg, const char *data_dir, char *out, size_t len);

/* ---------------------------------------------------------------- ingest.c */

/* Binds the ROUTER (MAXMSGSIZE, RCVHWM, ROUTER_MANDATORY, linger) and its
 * monitor; fills a->ingest_ep from ZMQ_LAST_ENDPOINT. Returns 0 or -errno. */
int crr_ingest_open(crr_aggregator_t *a);

/* The ROUTER is readable: receives one group (without blocking), applies it
 * in one durable transaction, then acknowledges each frame and publishes the
 * feed (the top of ingest.c). Failures are logged and counted; the caller's
 * loop goes on. Main thread only. */
void crr_ingest_group(crr_aggregator_t *a);

/* The monitor PAIR is readable: counts disconnects and failed handshakes
 * (stats.disconnects, stats.protocol_errors, stats.auth_failures). Never
 * blocks. */
void crr_ingest_monitor_drain(crr_aggregator_t *a);

/* Closes the ROUTER and its monitor; frees the group buffers. Safe twice. */
void crr_ingest_close(crr_aggregator_t *a);

/* ---------------------------------------------------------------- feed.c */

/* Draws this run's feed run id (a->feed_run: getrandom, never 0), binds the
 * PUB and the Clone state ROUTER (CURVE in ZAP domain "feed" like
 * the PUB; endpoint cfg.feed_state, or the feed's with port + 1, "*" kept),
 * creates the SSE ring (stream.c) and starts the feed worker (feedwork.c),
 * which computes the start state before it answers anything. Fills
 * a->feed_ep and a->feed_state_ep. Returns 0 or a negative code (logged).
 * Main thread, after the store is open and a->zctx exists. */
int crr_feed_open(crr_aggregator_t *a);

/* After a committed group (a->jobs[0..n)): marks the boroughs with an event
 * applied as touched and wakes the worker (with a copy of the reference data
 * and the reject counters). Cheap: no store read, no allocation. Main thread. */
void crr_feed_publish_group(crr_aggregator_t *a, size_t n);

/* a->feed_pipe is readable: sends every FeedMessage the worker made on the
 * PUB, in seq order (topic frame, packed message). Never blocks. Main thread. */
void crr_feed_drain(crr_aggregator_t *a);

/* The seq of the last FeedMessage made (0 = none): what GET /api/v1/indicators
 * reports as the feed sequence its state reflects. Any thread. */
uint64_t crr_feed_seq(crr_aggregator_t *a);

/* Stops the worker, closes the PUB, the state ROUTER and the pipe, frees the
 * SSE ring (call after crr_http_close). Safe twice. */
void crr_feed_close(crr_aggregator_t *a);

/* ---------------------------------------------------------------- feedwork.c */

/* Starts the worker thread: it takes over a->feed_state, binds the PAIR
 * whose main end is a->feed_pipe, and computes the start state (seq 0) before
 * it answers state requests. Returns 0 or a negative code. Main thread. */
int crr_feedwork_start(crr_aggregator_t *a);

/* Marks boroughs (bit i = crr_borough_code(i)) touched; with rejects set the
 * reject counters changed. Copies a->ref when have_ref. The worker computes
 * at once when its last computation is a second old, else when it is. Main
 * thread. */
void crr_feedwork_touch(crr_aggregator_t *a, uint64_t boroughs, int rejects);

/* Takes the FeedMessages made since the last call, in seq order: *out a
 * malloc'd array of *n packed messages (each {topic, data, len}), freed with
 * crr_feedwork_free_out. Main thread. */
typedef struct crr_feed_out {
    char topic[96]; /* "<scope> <kind>" */
    uint8_t *data;  /* packed FeedMessage (malloc'd) */
    size_t len;     /* bytes in data */
} crr_feed_out_t;
void crr_feedwork_take(crr_aggregator_t *a, crr_feed_out_t **out, size_t *n);
void crr_feedwork_free_out(crr_feed_out_t *out, size_t n);

/* The last seq made (0 = none). Any thread. */
uint64_t crr_feedwork_seq(crr_aggregator_t *a);

/* Stops the worker (after the computation in hand), closes its sockets and
 * frees its state. Safe when not started. Main thread. */
void crr_feedwork_stop(crr_aggregator_t *a);

/* ---------------------------------------------------------------- stream.c */

struct MHD_Connection;

/* Creates the replay ring (cfg.http_stream_replay messages). 0 or -ENOMEM. */
int crr_stream_init(crr_aggregator_t *a);

/* Appends FeedMessage seq, packed (data, len bytes: copied; its JSON is
 * rendered when a connection first needs it), and wakes every SSE
 * connection. Feed worker thread. */
void crr_stream_push(crr_aggregator_t *a, uint64_t seq, const uint8_t *data, size_t len);

/* GET /api/v1/stream (http.c's s_handler, after the role check): 1 when url is
 * the stream's, with the queued response's MHD result in *ret; 0 otherwise.
 * The response is text/event-stream from a content-reader callback that
 * blocks on the ring (MHD runs a thread per connection). HTTP threads. */
int crr_stream_route(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                     const char *method, int *ret);

/* Frees the ring (after crr_http_close: no connection reads it). Safe twice. */
void crr_stream_free(crr_aggregator_t *a);

/* ---------------------------------------------------------------- http.c */

/* Checks the HTTP side's configuration before anything starts: parses
 * a->cfg.http, reads [http] tls_cert/tls_key (a key open to group or others
 * is refused) and loads [http] users_file; any address but 127.0.0.1
 * without both TLS and users is refused. Allocates a->http (freed by
 * crr_http_close). Returns 0, or CRR_ECONFIG (exit 78; the reason and what
 * to configure logged) or -ENOMEM. Safe to call again (no-op). */
int crr_http_prepare(crr_aggregator_t *a);

/* Starts libmicrohttpd on a->cfg.http on its own threads (TLS when
 * configured), with the HTTP end of the request pipe; fills a->http_ep with
 * the bound ADDR:PORT. Runs crr_http_prepare first if it did not run.
 * Returns 0 or a negative code (logged). */
int crr_http_open(crr_aggregator_t *a);

/* SIGHUP (main thread): re-reads [http] users_file and swaps it in; a file
 * that does not load is refused with file:line and the users loaded before
 * stay. No-op without a users file. Returns 0 or the load's code. */
int crr_http_reload_users(crr_aggregator_t *a);

/* Answers HTTP snapshot request n (main thread): rc 0 with the snapshot's
 * id, file, row count and as_of (201), or the store's code (500/507). */
void crr_http_snapshot_answer(crr_aggregator_t *a, uint64_t n, int rc, const char *id,
                              const char *file, size_t nvalues, int64_t as_of);

/* Serves one request waiting on a->http_pipe (main thread). */
void crr_http_serve_pipe(crr_aggregator_t *a);

/* Stops the HTTP thread and closes its pipe end. Safe twice. */
void crr_http_close(crr_aggregator_t *a);

/* ---------------------------------------------------------------- dashboard.c */

struct MHD_Connection;

/* One file of aggregator/web/, compiled in by embed_web.cmake (web_assets.c). */
typedef struct crr_web_asset {
    const char *name;          /* file name, e.g. "dashboard.js" ([A-Za-z0-9._-]) */
    const unsigned char *data; /* its bytes (followed by a NUL not counted in len) */
    size_t len;                /* bytes */
    const char *etag;          /* quoted strong ETag: a prefix of its SHA-256 in hex */
} crr_web_asset_t;

extern const crr_web_asset_t crr_web_assets[]; /* in name order (web_assets.c, generated) */
extern const size_t crr_web_nassets;           /* entries in crr_web_assets */

/* The asset called name, or NULL. Any thread. */
const crr_web_asset_t *crr_web_asset(const char *name);

/* Copies a->cfg's [http] stale_after into a->stale_after_ms, where the HTTP
 * threads read it. Main thread: at start (before HTTP opens) and after a
 * reload swapped the configuration in. */
void crr_dashboard_configure(crr_aggregator_t *a);

/* 1 when url is the dashboard's: "/", "/static/..." or
 * "/api/v1/dashboard-config"; else 0. Any thread. */
int crr_dashboard_owns(const char *url);

/* Answers a request for one of the dashboard's URLs (crr_dashboard_owns)
 * after http.c checked the caller may read: GET/HEAD only (405 otherwise),
 * 404 {"error"} for an unknown asset, 304 when If-None-Match carries the
 * asset's ETag. Returns an enum MHD_Result (MHD_YES/MHD_NO) as an int, so
 * this header needs no libmicrohttpd. Any MHD connection thread. */
int crr_dashboard_serve(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                        const char *method);

/* ---------------------------------------------------------------- zap.c */

/* Loads [security] server_cert and the certificate folders and starts the
 * ZAP handler on a->zctx (before any socket binds). Without server_cert:
 * plain TCP when insecure (returns 0, a->zap stays NULL), else refused.
 * Returns 0, CRR_ECONFIG (logged: exit 78) or another negative code. */
int crr_zap_start(crr_aggregator_t *a);

/* Makes sock a CURVE server in ZAP domain ("ingest", "feed") when CURVE is
 * on; call before bind. Returns 0 or -errno. */
int crr_zap_socket(crr_aggregator_t *a, void *sock, const char *domain);

/* Per batch (slot->batch set, msg its received body): checks the sender's
 * key (User-Id) is still admitted and owns the batch's source id (claiming
 * it when new), and binds job to the key's boroughs and name. Returns 0, or
 * the REJECT_CODE to refuse the whole batch with (slot->error says why). */
int crr_zap_admit(crr_aggregator_t *a, crr_agg_slot_t *slot, zmq_msg_t *msg, crr_store_job_t *job);

/* SIGHUP (main thread, between two groups): re-reads the certificate
 * folders (a bad folder keeps the old lists). When a folder lost a key, its
 * socket (clients_dir: the ROUTER, feed_clients_dir: the PUB) drops every
 * connection by unbinding and binding again its endpoint as bound (same
 * port): admitted peers reconnect, the revoked ones are refused at the
 * handshake. A bind that still fails after a few seconds is logged and left
 * to crr_zap_tick. No-op without CURVE. */
void crr_zap_reload(crr_aggregator_t *a);

/* Each turn of the loop (main thread): for a few seconds after a drop, runs
 * the dropped sockets' pending commands (a session ends only once its socket
 * has run them, and an idle PUB runs none); retries, once a second, binding
 * an endpoint that crr_zap_reload unbound and could not bind again. Returns
 * the longest the loop may then wait in ms, or -1 for no limit. Cheap when
 * there is nothing to do. */
int crr_zap_tick(crr_aggregator_t *a);

/* Stops the handler and frees the keys (before zmq_ctx_term). Safe twice. */
void crr_zap_stop(crr_aggregator_t *a);

/* 1 when the ingest ROUTER is bound (not unbound by crr_zap_reload and not
 * yet bound again), else 0. Main thread. */
int crr_zap_ingest_bound(crr_aggregator_t *a);

/* ---------------------------------------------------------------- deliver.c */

/* Opens the store's outbox databases and starts the delivery thread, which
 * takes over a->sinks (it closes them). Returns 0, -ENOMEM, -errno or an
 * LMDB code. Main thread, once, after the sinks are open. */
int crr_deliver_start(crr_aggregator_t *a);

/* The outbox databases (NULL before crr_deliver_start). Any thread. */
const struct crr_outbox_dbs *crr_deliver_dbs(crr_aggregator_t *a);

/* Hands the thread a->sinks (just opened by a reload) and a->cfg's delivery
 * settings; it closes its old set once no write of it runs. Main thread. */
void crr_deliver_set_sinks(crr_aggregator_t *a);

/* Wakes the thread (a snapshot was queued). Any thread; no-op when not started. */
void crr_deliver_kick(crr_aggregator_t *a);

/* Stops the thread (waits for a write in progress), closes its sinks and
 * sets a->nsinks = 0. Safe when not started. Main thread. */
void crr_deliver_stop(crr_aggregator_t *a);

/* Waits up to timeout_ms until every current sink's delivery of snapshot id
 * was tried at least once; returns a JSON array of {"sink","state","error",
 * "file"} (state delivered, failed (retried later), dead, queued (behind an
 * earlier delivery being retried; error is that one's) or pending; file: what
 * a delivered file sink wrote, recorded with the outcome, else ""). Any thread
 * but the delivery thread; never NULL unless out of memory. */
json_t *crr_deliver_wait(crr_aggregator_t *a, const char *id, uint64_t timeout_ms);

/* {"SINK": {"pending":N,"dead":N,"oldest_age_seconds":S}, ...} for every
 * configured sink and every sink with records. Any thread. */
json_t *crr_deliver_summary_json(crr_aggregator_t *a);

/* The same as Prometheus gauges (crrmon_delivery_backlog{sink=..} ...) into f. */
void crr_deliver_metrics(crr_aggregator_t *a, FILE *f);

/* ---------------------------------------------------------------- snapwork.c */

/* One snapshot to compute off the ingest thread (malloc'd; the worker fills
 * the out fields; crr_snapjob_free frees it and its rows). */
typedef struct crr_snapjob {
    uint64_t req;                      /* HTTP request number to answer; 0 = a schedule's */
    int64_t as_of_sec;                 /* T */
    char schedule[64];                 /* schedule name; "" = on-demand */
    int catch_up;                      /* the catch-up at start (Snapshot.catch_up) */
    crr_refdata_t ref;                 /* the reference data as of the request (copied) */
    int have_ref;                      /* ref holds something */
    int rc;                            /* out: crr_indicators_compute's result */
    Crrmon__V1__IndicatorValue **vals; /* out: the rows */
    size_t nvals;                      /* out: entries in vals */
    uint64_t compute_ms;               /* out: time spent computing (worker thread) */
} crr_snapjob_t;

/* Starts the worker and binds a->snap_pipe (poll it: readable when a job is
 * done). Returns 0 or a negative code. Main thread, after a->zctx and the
 * store exist. */
int crr_snapwork_start(crr_aggregator_t *a);

/* Queues job (taken over). Returns 0, -EBUSY (too many in flight: the caller
 * keeps and frees job) or CRR_EINVAL (no worker). Main thread. */
int crr_snapwork_submit(crr_aggregator_t *a, crr_snapjob_t *job);

/* a->snap_pipe is readable: drains it and returns the oldest finished job
 * (the caller frees it), or NULL. Main thread. */
crr_snapjob_t *crr_snapwork_take(crr_aggregator_t *a);

/* Frees a job and its rows. Safe with NULL. */
void crr_snapjob_free(crr_snapjob_t *j);

/* Stops the worker (after the job it computes), frees every job left and
 * closes a->snap_pipe. Safe when not started. Main thread. */
void crr_snapwork_stop(crr_aggregator_t *a);

/* ---------------------------------------------------------------- snapshot.c */

/* Asks for a snapshot as of as_of_sec under schedule (NULL = on-demand),
 * computed by the worker; req is the HTTP request to answer when it is
 * stored (0 = none). Never waits. Returns 0, or a negative code when it
 * cannot be queued (the caller answers). Main thread. */
int crr_snapshots_request(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule,
                          uint64_t req);

/* a->snap_pipe is readable: stores the finished snapshot with its deliveries
 * (one short write transaction), wakes the delivery thread, and answers its
 * HTTP request (crr_http_snapshot_answer). Main thread. */
void crr_snapshots_finish(crr_aggregator_t *a);

/* Opens the configured sinks (cfg.sinks). Returns 0 or CRR_ECONFIG (logged). */
int crr_snapshots_open_sinks(crr_aggregator_t *a);

/* Closes every open sink (stopping the delivery thread first when it runs:
 * it owns them). Main thread. */
void crr_snapshots_close_sinks(crr_aggregator_t *a);

/* Reload: takes shadow's open sinks as a's (shadow keeps none); without a
 * delivery thread a's old ones are closed here. Call
 * crr_snapshots_sinks_changed once a->cfg is the new one. Main thread. */
void crr_snapshots_swap_sinks(crr_aggregator_t *a, crr_aggregator_t *shadow);

/* Reload: hands the new sinks and delivery settings to the delivery thread
 * (which closes its old set). Main thread. */
void crr_snapshots_sinks_changed(crr_aggregator_t *a);

/* Start-up of snapshot deliveries (after the sinks are open): removes stale
 * temporary files (*.tmp) from every file sink's folder, starts the delivery
 * thread (deliver.c, which takes the sinks over), hooks the outbox into the
 * store's snapshot transaction, and queues every stored snapshot for each
 * sink it is meant for (the schedule's `@` list, else aggregator.sinks) that
 * has neither delivered nor queued it: a sink added later gets that history
 * (a file sink whose file is already there counts as delivered; only each
 * snapshot's header is read, crr_store_snapshot_head). Failures are logged and never stop the
 * start. Returns 0, or a code when the thread or the records cannot be started (logged). Main
 * thread only. */
int crr_snapshots_recover(crr_aggregator_t *a);

/* Takes a snapshot as of as_of_sec under schedule name (NULL = on-demand)
 * on the calling thread (crr_snapshots_request's fallback when the worker
 * did not start; it uses the worker otherwise), storing it and one delivery per sink in one
 * transaction, and wakes the delivery thread; never waits for a sink (crash point
 * agg_snapshot_after_commit sits after the commit).
 * Fills id/file (where the first sink that can locate it will write it; ""
 * when none) and *nvalues. Returns 0 or the store's code. Main thread only. */
int crr_snapshots_export(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule, char *id,
                         size_t idlen, char *file, size_t filelen, size_t *nvalues);

/* Computes every schedule's next due time from now (start and reload). At
 * start it first sets the process's time zone from aggregator.timezone, and
 * for each schedule whose last slot is recorded in the store and which missed
 * slots while the aggregator was down, logs how many and asks for one
 * catch-up snapshot (Snapshot.catch_up) as of the most recent missed slot:
 * computed by the snapshot worker like any other, so ingest starts at once
 * and the catch-up is stored by the loop when it is done. Never waits. */
void crr_snapshots_schedule_init(crr_aggregator_t *a);

/* Runs due schedules and the pruning timer. Returns the milliseconds until
 * the next timer is due (capped at 1000). Main thread only. */
int crr_snapshots_tick(crr_aggregator_t *a);

#endif
