/* crashpoint: named crash points for repeatable crash tests.
 *
 * CRR_CRASHPOINT=name[:n] in the environment makes the n-th call (default the
 * first) of crr_crashpoint("name") end the process at once with _exit(86),
 * as kill -9 would at that spot: no atexit handlers, no LMDB commit, no
 * flushing beyond what the kernel already has. ZeroMQ frames already handed
 * to its I/O thread are given 200 ms to leave first, so a crash "just after
 * the Acks were sent" really is after they reached the sender. Without the
 * variable a crash point costs one branch. Documented in docs/OPERATIONS.md.
 * Pause points (below) hold a thread instead of ending the process; fail
 * points make one call fail as a transient fault would. */
#ifndef CRR_CRASHPOINT_H
#define CRR_CRASHPOINT_H

#define CRR_CRASHPOINT_EXIT 86

/* Ends the process here if CRR_CRASHPOINT names this point and its count is reached. */
void crr_crashpoint(const char *name);

/* Pause points, for tests that must hold a thread at a spot while they look
 * at the rest of the process (no timing involved): CRR_PAUSEPOINT=name:FILE
 * makes every pass through crr_pausepoint("name") wait until FILE exists
 * (checked every 20 ms), logging "pause point NAME: waiting for FILE" when it
 * starts to wait and "pause point NAME: released" when it goes on. Without
 * the variable a pause point costs one branch. Any thread (the variable is
 * read once, under pthread_once). */
void crr_pausepoint(const char *name);

/* Fail points, for tests of transient faults that cannot be provoked from
 * outside (memory that runs out at one spot): CRR_FAILPOINT=name[:n] makes
 * the n-th pass (default the first) through crr_failpoint("name") return 1,
 * once; every other pass returns 0 and the caller goes on as usual. On 1 the
 * caller fails as it would for the real fault (codec_arena_chunk: the
 * aggregator's unpack arena gets no new chunk, as if malloc returned NULL).
 * Logs "fail point NAME reached (call N)". Without the variable a fail point
 * costs one branch after the first call. Any thread (read once, under
 * pthread_once; the count is atomic). Tests only: documented in
 * docs/OPERATIONS.md with the crash points. */
int crr_failpoint(const char *name);

#endif
