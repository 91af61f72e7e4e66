/* iofault: named I/O-error points on the LMDB commit paths, for tests that
 * check what a failing disk leaves behind. Owns the commit call of the
 * points below, not the transactions (their modules do).
 *
 * crr_iofault_arm(point, n) makes the n-th call (from 1) of
 * crr_iofault_commit(txn, point) after arming abort txn and return EIO, as
 * a commit whose write or fdatasync failed would (LMDB frees a transaction
 * whose commit fails; so does this). Every other call commits. Points:
 *   "store_commit"  the aggregator store's group commit (crr_store_apply)
 *   "spool_commit"  the collector spool's commit (crr_spool_commit)
 *
 * Out of production's reach: only a call inside the process arms a point
 * (no environment variable, no option); unarmed, a commit pays one relaxed
 * atomic load. Threading: one point armed at a time, armed and disarmed
 * while no other thread commits; the commits themselves may come from any
 * thread. */
#ifndef CRR_IOFAULT_H
#define CRR_IOFAULT_H

#include <lmdb.h>

/* Arms point: its n-th commit from now fails with EIO (n < 1 means 1). */
void crr_iofault_arm(const char *point, long n);

/* Disarms the armed point. */
void crr_iofault_off(void);

/* Commits txn (mdb_txn_commit), or, when point is armed and its count is
 * reached, aborts it and returns EIO. Returns 0 or an LMDB code / errno. */
int crr_iofault_commit(MDB_txn *txn, const char *point);

#endif
