/* boroughs: the static GSS code table and O(1) lookups.
 *
 * The table below is data/london_boroughs.csv embedded as C (regenerate it
 * from the CSV if the CSV ever changes; tests/unit/test_boroughs.c checks the
 * two agree, row by row). Because the London codes are the contiguous range
 * E09000001..E09000033, a code's index is its numeric part minus one: lookup
 * parses six digits, no string comparisons, no hashing. Read-only data, so
 * thread-safe. It does not know other areas' codes (E06, E07, ...): those are
 * not London and are rejected. */
#include "boroughs.h"

#include <stddef.h>

/* One borough: its GSS code and name, index = position in s_boroughs. */
typedef struct s_borough {
    const char *code; /* GSS code, "E09000001".. */
    const char *name; /* official name as in the CSV */
} s_borough_t;

static const s_borough_t s_boroughs[CRR_BOROUGHS] = {
    {"E09000001", "City of London"},
    {"E09000002", "Barking and Dagenham"},
    {"E09000003", "Barnet"},
    {"E09000004", "Bexley"},
    {"E09000005", "Brent"},
    {"E09000006", "Bromley"},
    {"E09000007", "Camden"},
    {"E09000008", "Croydon"},
    {"E09000009", "Ealing"},
    {"E09000010", "Enfield"},
    {"E09000011", "Greenwich"},
    {"E09000012", "Hackney"},
    {"E09000013", "Hammersmith and Fulham"},
    {"E09000014", "Haringey"},
    {"E09000015", "Harrow"},
    {"E09000016", "Havering"},
    {"E09000017", "Hillingdon"},
    {"E09000018", "Hounslow"},
    {"E09000019", "Islington"},
    {"E09000020", "Kensington and Chelsea"},
    {"E09000021", "Kingston upon Thames"},
    {"E09000022", "Lambeth"},
    {"E09000023", "Lewisham"},
    {"E09000024", "Merton"},
    {"E09000025", "Newham"},
    {"E09000026", "Redbridge"},
    {"E09000027", "Richmond upon Thames"},
    {"E09000028", "Southwark"},
    {"E09000029", "Sutton"},
    {"E09000030", "Tower Hamlets"},
    {"E09000031", "Waltham Forest"},
    {"E09000032", "Wandsworth"},
    {"E09000033", "Westminster"},
};

int crr_borough_index(const char *gss)
{
    if (!gss || gss[0] != 'E' || gss[1] != '0' || gss[2] != '9')
        return -1;
    int n = 0;
    for (int i = 3; i < 9; i++) {
        unsigned c = (unsigned char)gss[i] - '0';
        if (c > 9) /* also stops at the NUL of a short string */
            return -1;
        n = n * 10 + (int)c;
    }
    if (gss[9] != '\0' || n < 1 || n > CRR_BOROUGHS)
        return -1;
    return n - 1;
}

const char *crr_borough_code(int idx)
{
    if (idx < 0 || idx >= CRR_BOROUGHS)
        return NULL;
    return s_boroughs[idx].code;
}

const char *crr_borough_name(int idx)
{
    if (idx < 0 || idx >= CRR_BOROUGHS)
        return NULL;
    return s_boroughs[idx].name;
}
