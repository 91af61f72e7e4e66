/* crashpoint: named crash points for repeatable crash tests.
 *
 * CRR_CRASHPOINT=name[:n] in the environment makes the n-th call (default the
 * first) of crr_crashpoint("name") end the process at once with _exit(86),
 * as kill -9 would at that spot: no atexit handlers, no LMDB commit, no
 * flushing beyond what the kernel already has. ZeroMQ frames already handed
 * to its I/O thread are given 200 ms to leave first, so a crash "just after
 * the Acks were sent" really is after they reached the sender. Without the
 * variable a crash point costs one branch. Documented in docs/OPERATIONS.md.
 * Pause points (below) hold a thread instead of ending the process. */
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

#endif
