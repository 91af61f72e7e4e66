/* iofault: the armed point's name and count (see iofault.h). */
#include "iofault.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int s_armed; /* 1 while a point is armed */
static char s_point[64];   /* its name (written only while disarmed) */
static atomic_long s_left; /* commits of the point until the failing one */

void crr_iofault_arm(const char *point, long n)
{
    atomic_store(&s_armed, 0);
    snprintf(s_point, sizeof s_point, "%s", point);
    atomic_store(&s_left, n < 1 ? 1 : n);
    atomic_store(&s_armed, 1);
}

void crr_iofault_off(void)
{
    atomic_store(&s_armed, 0);
}

int crr_iofault_commit(MDB_txn *txn, const char *point)
{
    if (atomic_load_explicit(&s_armed, memory_order_relaxed) && strcmp(point, s_point) == 0 &&
        atomic_fetch_sub(&s_left, 1) == 1) {
        mdb_txn_abort(txn);
        return EIO;
    }
    return mdb_txn_commit(txn);
}
