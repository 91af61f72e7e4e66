/* sender: the ingest protocol engine (DEALER side), shared by the collector
 * and `crrmon send`.
 *
 * The sender owns a DEALER socket connected to the aggregator's ROUTER and a
 * bounded window of unacknowledged batches. It does not own the events: the
 * owner keeps them (the collector in its LMDB spool, `crrmon send` in memory)
 * and exposes them through crr_sender_source_t:
 *   fetch(ud, from_seq, batch)   add events with seq >= from_seq, ascending and
 *                                consecutive, with crr_sender_batch_add() until it
 *                                returns CRR_ETOOBIG or none are left;
 *   on_ack(ud, durable, rej, n)  the aggregator has made every seq <= durable
 *                                durable (cumulative); rej lists rejected events.
 *                                The owner may now forget those events.
 * Events are re-fetched for every resend (go-back-N), so the sender keeps no
 * copies and its memory is one frame buffer plus the window's bookkeeping.
 *
 * Protocol (docs/MODULES.md "Batches and Acks"):
 * - each frame is one Batch of consecutive events, never above max_frame_bytes;
 * - at most window_frames frames are unacknowledged;
 * - Ack.durable_seq releases every frame ending at or below it;
 * - Ack.expected_seq != 0 makes the sender go back and resend from there; at
 *   or below the acknowledged seq it halts instead (CRR_SENDER_LOST_STATE);
 * - Ack.error is logged and counted (the frame is resent after the timeout),
 *   except REJECT_CODE_SEQUENCE_CONFLICT for this source and epoch, which
 *   halts the sender (CRR_SENDER_CONFLICT);
 * - no ack progress for resend_ms with frames in flight: go back to the first
 *   unacknowledged seq; a disconnect and a re-connection do the same.
 *
 * Trust: an Ack whose durable_seq, or a rejection's seq, lies beyond the
 * highest seq ever handed out (last_seq, or what was sent), or a rejection
 * with seq 0, is ignored as a whole and logged as an error (counted in
 * ack_errors): nothing is released for it. acked_seq therefore never passes
 * the owner's last seq, so no sequence arithmetic (acked + 1, last - acked)
 * can wrap.
 *
 * Connection events (decision): the monitor reports a handshake
 * asynchronously, so frames can be sent on a connection before its
 * "connected" event is read. The FIRST connection never causes a resend:
 * with ZMQ_IMMEDIATE nothing is queued before it exists, so every frame in
 * flight went out on it, and resending them would only send each event twice
 * (the aggregator skips them, but a loaded machine then depends on timing).
 * A disconnect resends from the first unacknowledged seq, and so does the
 * handshake of a RE-connection, because frames sent between the disconnect
 * and reading its event may have gone into the old connection's dying pipe.
 * The resend timeout remains the safety net for anything else lost.
 *
 * Refused handshakes: when the aggregator's ZAP handler refuses this key
 * (not admitted, or revoked by a reload: the aggregator then drops the
 * connection) or the handshake fails on a protocol error (plain TCP against
 * CURVE), the sender logs it once per change of cause, as an error naming
 * the endpoint and its public key, and keeps every unacknowledged event at
 * the owner. libzmq 4.3 never reconnects after such a refusal, so the sender
 * connects again itself after 1 s, doubling up to 10 s; the first handshake
 * that succeeds is logged ("accepts this client again") and resets that.
 *
 * Threading: one thread drives a sender (crr_sender_poll or the
 * pollitems/process pair). Callbacks run on that thread, inside poll/process. */
#ifndef CRR_SENDER_H
#define CRR_SENDER_H

#include "certs.h"
#include "codec.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* Pollitems crr_sender_pollitems fills. */
#define CRR_SENDER_POLLITEMS 2

typedef struct crr_sender crr_sender_t;
/* A frame under construction; only crr_sender_batch_add touches it. */
typedef struct crr_sender_batch crr_sender_batch_t;

/* Where the events come from (the owner's side). */
typedef struct crr_sender_source {
    /* Adds events with seq >= from_seq in ascending consecutive order through
     * crr_sender_batch_add(b, ...), stopping when it returns non-zero or when
     * no more events exist. Returns 0 or a negative error (logged; the sender
     * retries later). Required. */
    int (*fetch)(void *ud, uint64_t from_seq, crr_sender_batch_t *b);
    /* Every seq <= durable_seq is durable at the aggregator; rej[0..n) are the
     * events of the acknowledged batch(es) that it rejected (borrowed for the
     * call). Called once per Ack that raises durable_seq or lists rejections.
     * Returns 0 or a negative error (logged). Required. */
    int (*on_ack)(void *ud, uint64_t durable_seq, Crrmon__V1__Rejection *const *rej, size_t n);
    /* Events waiting at the owner (Batch.spool_depth). Optional (NULL = 0). */
    uint64_t (*depth)(void *ud);
    /* Highest seq the owner ever handed out (the spool's next_seq - 1), sent
     * in this run or an earlier one. Optional (NULL = the highest seq sent in
     * this run). An Ack naming a seq beyond it is not trusted (see below). */
    uint64_t (*last_seq)(void *ud);
} crr_sender_source_t;

/* Settings; the collector fills these from its config map. */
typedef struct crr_sender_opts {
    const char *endpoint;     /* aggregator ingest endpoint, e.g. tcp://127.0.0.1:7400 */
    const char *source_id;    /* Batch.source_id */
    uint64_t epoch;           /* Batch.epoch */
    uint64_t first_seq;       /* first unacknowledged seq at start (acked + 1); >= 1 */
    uint64_t window_frames;   /* frames in flight, >= 1 (e.g. 64) */
    uint64_t batch_events;    /* events per frame, >= 1 (e.g. 2000) */
    uint64_t max_frame_bytes; /* frame size limit; keep below the aggregator's ZMQ_MAXMSGSIZE */
    int64_t resend_ms;        /* go back after this long without ack progress (e.g. 5000) */
    const crr_curve_client_t *curve; /* CURVE keys (certs.h), or NULL / curve->on == 0 for
                                        plain TCP; the aggregator is verified by its key */
} crr_sender_opts_t;

/* Counters and state for logs, status and exit decisions. */
typedef struct crr_sender_stats {
    uint64_t acked_seq;        /* highest durable seq acknowledged */
    uint64_t next_seq;         /* next seq to put in a new frame */
    uint64_t frames_inflight;  /* frames sent and not yet acknowledged */
    uint64_t frames_sent;      /* frames sent, resends included */
    uint64_t events_sent;      /* events sent, resends included */
    uint64_t resends;          /* go-backs (timeout, expected_seq, reconnect) */
    uint64_t acks;             /* Acks received */
    uint64_t ack_errors;       /* Acks with error set, that did not parse, or not trusted */
    uint64_t rejections;       /* rejected events reported by Acks */
    uint64_t last_ack_ms;      /* crr_clock_mono_ms of the last durable_seq advance (0 = none) */
    uint64_t total_applied;    /* the aggregator's totals for this source and epoch (highest */
    uint64_t total_duplicates; /* Ack.total_* seen; all 0 from an aggregator that predates */
    uint64_t total_rejected;   /* them) */
    int connected;             /* the socket monitor saw a connection that is still up */
} crr_sender_stats_t;

/* Creates the DEALER on zmq context ctx (borrowed; must outlive the sender)
 * and connects it to o->endpoint. src and ud are borrowed. The strings in o
 * are copied. Returns 0 and *out, CRR_EINVAL for bad options, -errno
 * (zmq) or -ENOMEM. */
int crr_sender_new(void *ctx, const crr_sender_opts_t *o, const crr_sender_source_t *src, void *ud,
                   crr_sender_t **out);

/* Closes the sockets (linger 0: unsent frames are dropped; they are still at
 * the owner) and frees. Nulls *sp; idempotent. */
void crr_sender_destroy(crr_sender_t **sp);

/* Appends one packed Event (bytes as Event.SerializeToString, seq inside
 * equal to seq) to the frame being built. Returns 0; CRR_ETOOBIG when the
 * frame is full by count or size (not added); CRR_EINVAL when seq is not the
 * next consecutive one. An event that alone exceeds the frame limit also gets
 * CRR_ETOOBIG (and is logged once): the owner must not spool such events. */
int crr_sender_batch_add(crr_sender_batch_t *b, uint64_t seq, const uint8_t *ev, size_t len);

/* Fills items[0..CRR_SENDER_POLLITEMS) (ZMQ_POLLIN on the DEALER and its
 * monitor) so an owner can poll them with its own fds; returns the count. */
int crr_sender_pollitems(crr_sender_t *s, zmq_pollitem_t *items);

/* Longest the owner may poll before calling crr_sender_process, in ms
 * (timers: resend timeout, retry of a send that found no connection). */
long crr_sender_timeout(const crr_sender_t *s);

/* Does all the work that is due without blocking: reads monitor events and
 * Acks (calling on_ack), applies timeouts, then fills the window with new
 * frames (calling fetch). Call after polling, and after new events were
 * added at the owner. Returns 0 or a negative error from zmq (fatal). */
int crr_sender_process(crr_sender_t *s);

/* Polls the sender's own sockets for up to timeout_ms (bounded by its
 * timers), then crr_sender_process. For owners with nothing else to poll
 * (`crrmon send`). Returns 0, or a negative error (-EINTR when a signal
 * interrupted the wait is returned as 0). */
int crr_sender_poll(crr_sender_t *s, long timeout_ms);

/* Why a sender stopped sending for good. Once halted it sends nothing more,
 * reads and ignores Acks, and never calls on_ack; the owner decides what to
 * do (start a new sender under a fresh epoch, or exit). */
typedef enum crr_sender_halt {
    CRR_SENDER_RUNNING = 0,    /* not halted */
    CRR_SENDER_LOST_STATE = 1, /* the aggregator expects a seq at or below one it already
                                  acknowledged: it lost state (store restored from an older
                                  backup, or emptied); *seq = the seq it expects */
    CRR_SENDER_CONFLICT = 2,   /* the aggregator holds different events under the same
                                  (source_id, epoch) (a copied spool): Ack.error
                                  REJECT_CODE_SEQUENCE_CONFLICT; *seq = 0 */
} crr_sender_halt_t;

/* Whether (and why) the sender halted; *seq (may be NULL) as above. */
crr_sender_halt_t crr_sender_halted(const crr_sender_t *s, uint64_t *seq);

/* Copies the counters into *st. */
void crr_sender_stats(const crr_sender_t *s, crr_sender_stats_t *st);

/* Highest seq acknowledged as durable. */
uint64_t crr_sender_acked_seq(const crr_sender_t *s);

#endif
