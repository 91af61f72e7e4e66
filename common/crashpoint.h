/* crashpoint: named crash points for repeatable crash tests.
 *
 * CRR_CRASHPOINT=name[:n] in the environment makes the n-th call (default the
 * first) of crr_crashpoint("name") end the process at once with _exit(86),
 * as kill -9 would at that spot: no atexit handlers, no LMDB commit, no
 * flushing beyond what the kernel already has. ZeroMQ frames already handed
 * to its I/O thread are given 200 ms to leave first, so a crash "just after
 * the Acks were sent" really is after they reached the sender. Without the
 * variable a crash point costs one branch. Documented in docs/OPERATIONS.md. */
#ifndef CRR_CRASHPOINT_H
#define CRR_CRASHPOINT_H

#define CRR_CRASHPOINT_EXIT 86

/* Ends the process here if CRR_CRASHPOINT names this point and its count is reached. */
void crr_crashpoint(const char *name);

#endif
