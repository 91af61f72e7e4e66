/* test_users: the HTTP users file parser (common/users) refuses every
 * malformed line with file:line, field and reason and keeps nothing of a bad
 * file; passwords check against hashes made by OpenSSL (`openssl passwd -6`)
 * and by crr_users_hash; the constant-time compare answers exactly like
 * memcmp on every length and position of a difference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `openssl passwd -6 -salt saltsalt secret` and `-salt 'rounds=1000$abc' pw` */
#define H_SECRET                                                                                   \
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."    \
    "H91p5hVO1"
#define H_PW_ROUNDS                                                                                \
    "$6$rounds=1000$abc$yxe0KSjmoHd8rpohJgwvF5lnIQ/"                                               \
    "9t.klcz24a1cca3nWm.PLUmhXgcGgKWCoRFHRHYxXj4SVEt"                                              \
    "jCnCAwaFY0V0"

static void test_parse_good(void **state)
{
    (void)state;
    const char *text = "# users of the HTTP API\n"
                       "\n"
                       "alice:" H_SECRET ":admin\n"
                       "bob.smith@x-1:" H_PW_ROUNDS ":read\r\n"
                       "carol:" H_SECRET ":read"; /* no final newline */
    crr_users_t u = {0};
    crr_diag_t d;
    assert_int_equal(crr_users_parse(text, "u.txt", &u, &d), 0);
    assert_int_equal(u.n, 3);
    assert_string_equal(u.v[0].name, "alice");
    assert_string_equal(u.v[0].hash, H_SECRET);
    assert_int_equal(u.v[0].role, CRR_ROLE_ADMIN);
    assert_string_equal(u.v[1].name, "bob.smith@x-1");
    assert_string_equal(u.v[1].hash, H_PW_ROUNDS);
    assert_int_equal(u.v[1].role, CRR_ROLE_READ);
    assert_int_equal(u.v[2].role, CRR_ROLE_READ);
    assert_ptr_equal(crr_users_find(&u, "carol"), &u.v[2]);
    assert_null(crr_users_find(&u, "dave"));
    crr_users_free(&u);
    crr_users_free(&u); /* safe twice */
    assert_int_equal(u.n, 0);
    assert_int_equal(crr_users_parse("", "empty", &u, &d), 0);
    assert_int_equal(u.n, 0);
}

/* Each bad file: the line and field at fault and a word of the reason. */
static void test_parse_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long line;
        const char *field, *reason;
    } cases[] = {
        {"alice:" H_SECRET "\n", 1, "", "NAME:HASH:ROLE"},
        {"alice:" H_SECRET ":admin:x\n", 1, "", "NAME:HASH:ROLE"},
        {"# c\nalice:" H_SECRET ":root\n", 2, "role", "'root' is not a role"},
        {"alice:" H_SECRET ":\n", 1, "role", "not a role"},
        {"al ice:" H_SECRET ":read\n", 1, "name", "'al ice'"},
        {":" H_SECRET ":read\n", 1, "name", "is not"},
        {"alice:$1$saltsalt$abcdefghijklmnopqrstuv:read\n", 1, "hash", "SHA-512"},
        {"alice:secret:read\n", 1, "hash", "SHA-512"},
        {"alice:$6$saltsalt$short:read\n", 1, "hash", "SHA-512"},
        {"alice:$6$rounds=x$abc$" H_SECRET ":read\n", 1, "hash", "SHA-512"},
        {"alice:" H_SECRET ":read\n\nalice:" H_SECRET ":admin\n", 3, "name", "listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        crr_users_t u = {0};
        crr_diag_t d;
        assert_int_equal(crr_users_parse(cases[i].text, "users", &u, &d), CRR_EPARSE);
        assert_null(u.v);
        assert_string_equal(d.file, "users");
        assert_int_equal(d.line, cases[i].line);
        assert_string_equal(d.field, cases[i].field);
        if (!strstr(d.reason, cases[i].reason))
            fail_msg("case %zu: reason '%s' lacks '%s'", i, d.reason, cases[i].reason);
    }
}

static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/crr-users-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "alice:" H_SECRET ":admin\nbob:" H_SECRET ":bogus\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    crr_users_t u = {0};
    crr_diag_t d;
    char buf[1024];
    assert_int_equal(crr_users_load(path, &u, &d), CRR_EPARSE);
    char want[512];
    snprintf(want, sizeof want, "%s:2: role: 'bogus' is not a role (admin or read)", path);
    assert_string_equal(crr_diag_format(&d, buf, sizeof buf), want);
    unlink(path);
    assert_true(crr_users_load(path, &u, &d) < 0);
    assert_non_null(strstr(d.reason, "cannot open"));
}

static void test_check(void **state)
{
    (void)state;
    crr_users_t u = {0};
    crr_diag_t d;
    assert_int_equal(
        crr_users_parse("alice:" H_SECRET ":admin\nbob:" H_PW_ROUNDS ":read\n", "u", &u, &d), 0);
    assert_int_equal(crr_users_check(&u, "alice", "secret"), CRR_ROLE_ADMIN);
    assert_int_equal(crr_users_check(&u, "bob", "pw"), CRR_ROLE_READ);
    assert_int_equal(crr_users_check(&u, "alice", "Secret"), CRR_ROLE_NONE);
    assert_int_equal(crr_users_check(&u, "alice", "secret "), CRR_ROLE_NONE);
    assert_int_equal(crr_users_check(&u, "alice", ""), CRR_ROLE_NONE);
    assert_int_equal(crr_users_check(&u, "bob", "secret"), CRR_ROLE_NONE);
    assert_int_equal(crr_users_check(&u, "carol", "secret"), CRR_ROLE_NONE);
    assert_int_equal(crr_users_check(&u, NULL, "secret"), CRR_ROLE_NONE);
    crr_users_free(&u);
}

static void test_hash_roundtrip(void **state)
{
    (void)state;
    char h1[CRR_USER_HASH_MAX], h2[CRR_USER_HASH_MAX], line[512];
    assert_int_equal(crr_users_hash("correct horse", h1), 0);
    assert_int_equal(crr_users_hash("correct horse", h2), 0);
    assert_int_equal(strncmp(h1, "$6$", 3), 0);
    assert_string_not_equal(h1, h2); /* a fresh salt each time */
    snprintf(line, sizeof line, "eve:%s:read", h1);
    crr_users_t u = {0};
    crr_diag_t d;
    assert_int_equal(crr_users_parse(line, "u", &u, &d), 0);
    assert_int_equal(crr_users_check(&u, "eve", "correct horse"), CRR_ROLE_READ);
    assert_int_equal(crr_users_check(&u, "eve", "correct horsE"), CRR_ROLE_NONE);
    crr_users_free(&u);
}

/* crr_ct_equal agrees with length + memcmp wherever the bytes differ. */
static void test_ct_equal(void **state)
{
    (void)state;
    unsigned char a[64], b[64];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (unsigned char)(i * 7 + 1);
    assert_true(crr_ct_equal(a, sizeof a, b, sizeof b));
    assert_true(crr_ct_equal(a, 0, b, 0));
    for (size_t i = 0; i < sizeof a; i++)
        for (unsigned bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            assert_false(crr_ct_equal(a, sizeof a, b, sizeof b));
            b[i] ^= (unsigned char)(1u << bit);
        }
    for (size_t n = 0; n < sizeof a; n++) {
        assert_false(crr_ct_equal(a, n, b, n + 1)); /* a prefix is not equal */
        assert_false(crr_ct_equal(a, n + 1, b, n));
        assert_true(crr_ct_equal(a, n, b, n));
    }
    assert_false(crr_ct_equal("abc", 3, "", 0));
    assert_false(crr_ct_equal("", 0, "abc", 3));
}

static void test_names_roles(void **state)
{
    (void)state;
    assert_int_equal(crr_user_name_check("a"), 0);
    assert_int_equal(crr_user_name_check(""), CRR_EINVAL);
    assert_int_equal(crr_user_name_check("a:b"), CRR_EINVAL);
    char longname[80];
    memset(longname, 'x', sizeof longname);
    longname[63] = '\0';
    assert_int_equal(crr_user_name_check(longname), 0);
    longname[63] = 'x';
    longname[64] = '\0';
    assert_int_equal(crr_user_name_check(longname), CRR_EINVAL);
    assert_int_equal(crr_role_parse("admin"), CRR_ROLE_ADMIN);
    assert_int_equal(crr_role_parse("read"), CRR_ROLE_READ);
    assert_int_equal(crr_role_parse("Admin"), CRR_ROLE_NONE);
    assert_string_equal(crr_role_name(CRR_ROLE_ADMIN), "admin");
    assert_string_equal(crr_role_name(CRR_ROLE_READ), "read");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),     cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_load),           cmocka_unit_test(test_check),
        cmocka_unit_test(test_hash_roundtrip), cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_names_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
