/* sink: the interface every snapshot sink implements, and the registry.
 *
 * A sink receives whole snapshots (proto Snapshot, the export contract of
 * docs/DOMAIN.md) and writes them somewhere: a JSON Lines file, a CSV file,
 * a PostgreSQL database or a webhook. Each sink is one file sinks/<name>.c that
 * exports one `const crr_sink_ops_t crr_sink_<name>`; sinks/registry.c lists
 * them in one table, each entry guarded by CRR_WITH_SINK_<NAME>.
 *
 * Rules for a sink:
 *   - it never sees LMDB or ZeroMQ; write() runs on the aggregator's delivery
 *     thread (aggregator/deliver.c), never on the ingest thread, so a slow or
 *     failing destination holds up only its own deliveries;
 *   - write() is idempotent on the snapshot id (temp file + fsync + rename, or
 *     one SQL transaction keyed by the id, or an Idempotency-Key header) and
 *     keeps no pointer into the snapshot afterwards: after a crash between a
 *     write and its outcome record the same snapshot is written again;
 *   - write() reports CRR_SINK_OK, CRR_SINK_RETRY (transient: try again later)
 *     or CRR_SINK_FATAL (this snapshot can never be written); the caller owns
 *     retries (exponential backoff with jitter up to
 *     aggregator.delivery_max_attempts, then the delivery is dead until
 *     `crrmon export --retry SINK`), a sink never retries by itself;
 *   - locate() only reads the state open() set: the main thread may call it
 *     while the delivery thread runs write() on the same instance;
 *   - close() is called exactly once for every successful open(), by the
 *     thread that owns the instance at that time.
 *
 * Configuration: a sink's settings are a config map (common/cfg.h) whose
 * offsets point into the sink's own config struct (at most
 * CRR_SINK_CONFIG_MAX bytes, zero-initialised, then filled by the loader). The
 * aggregator splices every registered sink's map into its own table, so the
 * keys are INI `[sink.<name>] key = value` or `--sink.<name>.key=value`.
 * Instances: each `[sink.NAME] type = T` section is an instance of sink T
 * with its own config struct and delivery records; NAME defaults to T. */
#ifndef CRR_SINK_H
#define CRR_SINK_H

#include "cfg.h"
#include "err.h"

#include "crrmon/v1/snapshot.pb-c.h"

#include <stddef.h>

/* write() results. */
enum {
    CRR_SINK_OK = 0,    /* written (or already there: same id) */
    CRR_SINK_RETRY = 1, /* transient failure; the caller may retry later */
    CRR_SINK_FATAL = 2, /* permanent failure for this snapshot */
};

/* Largest sink config struct (bytes); the aggregator reserves this per sink. */
#define CRR_SINK_CONFIG_MAX 512

/* What open() gets: the sink's filled config struct plus the host's context. */
typedef struct crr_sink_section {
    const char *name;         /* instance name ([sink.NAME]; the type's name by default) */
    const char *snapshot_dir; /* the host's snapshot folder (absolute); default for file sinks */
    const void *config;       /* the sink's config struct, filled from its config map */
} crr_sink_section_t;

/* One sink implementation. */
typedef struct crr_sink_ops {
    const char *name;        /* registry name, e.g. "jsonl" (used in `sinks = jsonl,csv`) */
    const char *description; /* one line for --help */
    const crr_cfg_entry_t
        *config_map;    /* section "sink.<name>", offsets into the config struct; may be NULL */
    size_t config_size; /* sizeof the config struct (<= CRR_SINK_CONFIG_MAX) */

    /* Opens an instance. section and its strings are valid until close().
     * Returns 0 and sets *state, or a negative code with d explaining it. */
    int (*open)(const crr_sink_section_t *section, void **state, crr_diag_t *d);

    /* Writes snapshot s. Idempotent on s->id. Returns CRR_SINK_OK/RETRY/FATAL;
     * on failure d (may be NULL) says why. Keeps no pointer into s. */
    int (*write)(void *state, const Crrmon__V1__Snapshot *s, crr_diag_t *d);

    /* Optional (may be NULL): writes into buf where snapshot s lands (a file
     * path, a table name...): a pure function of s's stored fields (id,
     * schedule, as_of), so the same snapshot always lands in the same place.
     * Only s's header is read (values may be absent). Returns 0, or
     * CRR_ENOTFOUND when it has none. */
    int (*locate)(void *state, const Crrmon__V1__Snapshot *s, char *buf, size_t len);

    /* Closes the instance and sets *state to NULL; safe with *state NULL. */
    void (*close)(void **state);
} crr_sink_ops_t;

/* The registry: every sink compiled in, NULL-terminated. Static storage. */
extern const crr_sink_ops_t *const crr_sink_registry[];

/* The sink named name, or NULL when none is compiled in under that name. */
const crr_sink_ops_t *crr_sink_find(const char *name);

/* Checks that a snapshot id is safe to use as a file name: 1..128 characters
 * from [A-Za-z0-9._-], not starting with '.'. Returns 1 or 0. */
int crr_sink_id_is_safe(const char *id);

/* The exported sinks (each guarded by its CRR_WITH_SINK_<NAME> option). */
extern const crr_sink_ops_t crr_sink_jsonl;
extern const crr_sink_ops_t crr_sink_csv;
extern const crr_sink_ops_t crr_sink_webhook;
extern const crr_sink_ops_t crr_sink_postgres;

#endif
