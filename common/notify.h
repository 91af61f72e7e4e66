/* notify: tells the service manager (systemd, Type=notify) how a daemon is
 * doing, through libsystemd's sd_notify: READY=1 once the daemon serves
 * (store or spool open, sockets bound), RELOADING=1 while a SIGHUP is acted
 * on, STOPPING=1 when shut-down begins, and a STATUS= line with each.
 *
 * Without NOTIFY_SOCKET in the environment (not started by systemd, or by a
 * unit that is not Type=notify) every call does nothing. Owns no state of its
 * own (libsystemd reads the environment at each call); safe from the main
 * thread only, as the daemons use it. Errors are ignored on purpose: a
 * service manager that went away must not stop the daemon. */
#ifndef CRR_NOTIFY_H
#define CRR_NOTIFY_H

/* READY=1 with STATUS=<status>. After a reload, this ends the RELOADING=1. */
void crr_notify_ready(const char *status);

/* RELOADING=1 (and MONOTONIC_USEC, which systemd 253 and later want) with
 * STATUS=<status>: send before acting on SIGHUP, then crr_notify_ready. */
void crr_notify_reloading(const char *status);

/* STOPPING=1 with STATUS=<status>: shut-down has begun. */
void crr_notify_stopping(const char *status);

#endif
