/* boroughs: the 33 London local authorities by GSS code (E09000001..E09000033),
 * with their names, from data/london_boroughs.csv (embedded at build time as a
 * static table; the CSV stays the documented source).
 *
 * Lookups are O(1) and allocation-free: crr_borough_index parses the code's
 * digits instead of comparing strings, because the aggregator calls it per
 * event. Thread-safe (read-only data). */
#ifndef CRR_BOROUGHS_H
#define CRR_BOROUGHS_H

/* Number of London boroughs (32 boroughs and the City of London). */
#define CRR_BOROUGHS 33

/* Index 0..32 of a GSS code ("E09000001" -> 0, "E09000033" -> 32).
 * gss must be exactly 9 characters, "E09" then six digits in range; anything
 * else (NULL, lowercase "e09...", extra characters, "E09000000", "E09000034")
 * returns -1. */
int crr_borough_index(const char *gss);

/* The GSS code of index idx ("E09000001".. for 0..32); NULL out of range.
 * Static storage, valid for the life of the process. */
const char *crr_borough_code(int idx);

/* The borough's name ("City of London", "Barking and Dagenham", ...) for
 * index idx; NULL out of range. Static storage. */
const char *crr_borough_name(int idx);

#endif
