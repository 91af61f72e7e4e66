/* refdata: reference data loaded from CSV files named in the aggregator's
 * config: the borough list (code, name, police force) and the resident
 * population by borough and 5-group ethnicity (Census 2021). A bad row fails
 * the load with file, line, field and reason. The struct is plain data so the
 * aggregator can store it in LMDB and the CLI answer from the same figures. */
#ifndef CRR_REFDATA_H
#define CRR_REFDATA_H

#include "err.h"

#include <stdint.h>

#define CRR_REF_BOROUGHS 33
#define CRR_REF_ETHNICITIES                                                                        \
    6 /* indexed by Crrmon__V1__Ethnicity: 1 WHITE .. 5 OTHER (0, 6 unused) */

typedef struct crr_refdata {
    uint32_t version;                          /* CRR_REFDATA_VERSION */
    uint8_t have_borough[CRR_REF_BOROUGHS];    /* the borough list named this borough */
    char borough_name[CRR_REF_BOROUGHS][64];   /* from the borough list */
    uint8_t have_population[CRR_REF_BOROUGHS]; /* every group of this borough was loaded */
    double population[CRR_REF_BOROUGHS][CRR_REF_ETHNICITIES]; /* residents by ethnicity */
} crr_refdata_t;

#define CRR_REFDATA_VERSION 1u

/* Empties r (nothing known: every rate is then unavailable). */
void crr_refdata_clear(crr_refdata_t *r);

/* Resolves a reference-data file name into out (cap bytes). A name with a
 * slash is a path and used as it is. A bare name ("london_boroughs.csv") is
 * looked up in the shipped folder: <dir of the running binary>/../share/crrmon
 * when the file is there (an installed binary), else the source tree's data/
 * (a build-tree binary). Returns 0 or -ENAMETOOLONG. The loaders below call it. */
int crr_refdata_resolve(const char *name, char *out, size_t cap);

/* Loads the borough list (header: borough_code,borough_name[,policed_by]).
 * Returns 0, or CRR_EPARSE / -errno with d naming file, line, field, reason. */
int crr_refdata_load_boroughs(crr_refdata_t *r, const char *path, crr_diag_t *d);

/* Loads population (header: borough_code,borough_name,ethnicity,population;
 * ethnicity WHITE, MIXED, ASIAN, BLACK or OTHER; population a whole number >= 0;
 * a repeated borough+ethnicity is an error). A borough counts as having
 * population only when all five groups are present. Same return codes. */
int crr_refdata_load_population(crr_refdata_t *r, const char *path, crr_diag_t *d);

/* Total residents of borough idx (sum of the five groups), or -1 when unknown. */
double crr_refdata_total(const crr_refdata_t *r, int idx);

#endif
