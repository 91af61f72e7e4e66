/* test_datadir: common/datadir, the data folder's lock, mkdir -p, atomic
 * write and names. The lock is taken by a real child process: a second
 * taker is refused with the child's pid, and gets the lock once the child
 * has exited (cleanly or by SIGKILL). An atomic write is read, while a child
 * rewrites the file in a loop and is then killed, as all old or all new
 * content; a successful write leaves no temporary file, a failed one leaves
 * the old file. mkdir -p creates nested folders 0700 and leaves existing
 * ones alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "datadir.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_dir[64];

static int setup(void **state)
{
    (void)state;
    umask(0); /* so that the modes asserted are the ones asked for */
    snprintf(s_dir, sizeof s_dir, "/tmp/test_datadir.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd);
}

/* s_dir/rel */
static const char *s_at(const char *rel)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", s_dir, rel);
    return p;
}

/* A file's whole content (the caller frees), NULL when it cannot be read. */
static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    *len = cap;
    return buf;
}

static unsigned s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)st.st_mode & 07777;
}

static void test_path_and_names(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(crr_datadir_path(buf, sizeof buf, "/d", CRR_DATADIR_STORE), 0);
    assert_string_equal(buf, "/d/store");
    assert_int_equal(crr_datadir_path(buf, sizeof buf, "/d", CRR_DATADIR_SPOOL), 0);
    assert_string_equal(buf, "/d/spool");
    assert_int_equal(crr_datadir_path(buf, 8, "/d", CRR_DATADIR_ENDPOINTS), -ENAMETOOLONG);
    assert_string_equal(CRR_DATADIR_ENDPOINTS, "endpoints.json");
    assert_string_equal(CRR_DATADIR_SNAPSHOTS, "snapshots");
    assert_string_equal(CRR_DATADIR_LOCK, "lock");
    assert_string_equal(CRR_DATADIR_FILES_READ, "files-read");
    assert_string_equal(crr_datadir_holder_text(1234, buf, sizeof buf), "1234");
    assert_string_equal(crr_datadir_holder_text(0, buf, sizeof buf), "unknown");
}

static void test_mkdirs(void **state)
{
    (void)state;
    assert_int_equal(crr_datadir_mkdirs(s_at("a/b//c/")), 0);
    assert_int_equal(s_mode(s_at("a")), 0700);
    assert_int_equal(s_mode(s_at("a/b")), 0700);
    assert_int_equal(s_mode(s_at("a/b/c")), 0700);
    assert_int_equal(crr_datadir_mkdirs(s_at("a/b/c")), 0); /* already there */
    assert_int_equal(chmod(s_at("a/b"), 0755), 0);
    assert_int_equal(crr_datadir_mkdirs(s_at("a/b/d")), 0);
    assert_int_equal(s_mode(s_at("a/b")), 0755); /* an existing folder keeps its mode */
    assert_int_equal(s_mode(s_at("a/b/d")), 0700);
    int fd = open(s_at("file"), O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(crr_datadir_mkdirs(s_at("file")), -ENOTDIR);
    assert_int_equal(crr_datadir_mkdirs(s_at("file/x")), -ENOTDIR);
    assert_int_equal(crr_datadir_mkdirs(""), -EINVAL);
}

/* A child that takes the lock on dir, says so on a pipe, and waits for the
 * other pipe to close. Returns its pid. */
static pid_t s_child_lock(const char *dir, int *release)
{
    int ready[2], hold[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ready[0]);
        close(hold[1]);
        int fd;
        long holder;
        char ok = crr_datadir_lock(dir, &fd, &holder) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(2);
        char c;
        while (read(hold[0], &c, 1) > 0)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    close(ready[0]);
    assert_int_equal(ok, 'y');
    *release = hold[1];
    return pid;
}

/* Refused while pid holds dir's lock, with pid named. */
static void s_assert_refused(const char *dir, pid_t pid)
{
    int fd = 123;
    long holder = 0;
    assert_int_equal(crr_datadir_lock(dir, &fd, &holder), CRR_ELOCKED);
    assert_int_equal(fd, -1);
    assert_int_equal(holder, (long)pid);
}

static void s_assert_taken(const char *dir)
{
    int fd = -1;
    long holder = 99;
    assert_int_equal(crr_datadir_lock(dir, &fd, &holder), 0);
    assert_true(fd >= 0);
    assert_int_equal(holder, 0);
    char want[32];
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    size_t len;
    char *got = s_slurp(s_at("data/lock"), &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    s_assert_refused(dir, getpid()); /* a second open file is refused too */
    crr_datadir_unlock(&fd);
    assert_int_equal(fd, -1);
    crr_datadir_unlock(&fd); /* idempotent */
}

static void test_lock_held_by_child(void **state)
{
    (void)state;
    const char *dir = s_at("data");
    int release;
    pid_t pid = s_child_lock(dir, &release);
    assert_int_equal(s_mode(dir), 0700); /* the lock created the folder */
    s_assert_refused(dir, pid);
    s_assert_refused(dir, pid); /* a refusal changes nothing */
    close(release);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s_assert_taken(dir);
}

static void test_lock_released_by_kill(void **state)
{
    (void)state;
    const char *dir = s_at("data");
    int release;
    pid_t pid = s_child_lock(dir, &release);
    s_assert_refused(dir, pid);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(release);
    s_assert_taken(dir);
}

static void test_lock_uncreatable_folder(void **state)
{
    (void)state;
    int fd = open(s_at("plain"), O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    long holder = 5;
    assert_int_equal(crr_datadir_lock(s_at("plain/data"), &fd, &holder), -ENOTDIR);
    assert_int_equal(fd, -1);
    assert_int_equal(holder, 0);
}

static void test_write_file(void **state)
{
    (void)state;
    const char *path = s_at("x.txt");
    const char *tmp = s_at("x.txt.tmp");
    assert_int_equal(crr_datadir_write_file(path, "one\n", 4, 0640), 0);
    assert_int_equal(crr_datadir_write_file(path, "two\n", 4, 0640), 0);
    size_t len;
    char *got = s_slurp(path, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "two\n", 4);
    free(got);
    assert_int_equal(s_mode(path), 0640);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(crr_datadir_write_file(path, "", 0, 0640), 0);
    got = s_slurp(path, &len);
    assert_int_equal(len, 0);
    free(got);
    assert_true(crr_datadir_write_file(s_at("missing/x.txt"), "x", 1, 0644) < 0);
    assert_int_equal(access(s_at("missing"), F_OK), -1);
    assert_int_equal(crr_datadir_sync_parent(path), 0);
    assert_int_equal(crr_datadir_sync_parent(s_at("missing/x.txt")), -ENOENT);
}

/* A temporary file left by a crash, with looser permissions: the new file
 * still gets the mode asked for (open with O_CREAT keeps an existing file's
 * mode; a secret written as 0600 came out world-readable). */
static void test_write_file_stale_tmp_mode(void **state)
{
    (void)state;
    const char *path = s_at("secret");
    int fd = open(s_at("secret.tmp"), O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "stale", 5), 5);
    close(fd);
    assert_int_equal(crr_datadir_write_file(path, "new\n", 4, 0600), 0);
    assert_int_equal(s_mode(path), 0600);
    size_t len;
    char *got = s_slurp(path, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(got, "new\n", 4);
    free(got);
}

static void test_write_failure_keeps_old(void **state)
{
    (void)state;
    /* a rename over a folder that is not empty fails after the temporary
     * file was written: the folder stays, the temporary file goes */
    assert_int_equal(crr_datadir_mkdirs(s_at("busy/inside")), 0);
    assert_true(crr_datadir_write_file(s_at("busy"), "new\n", 4, 0644) < 0);
    assert_int_equal(access(s_at("busy/inside"), F_OK), 0);
    assert_int_equal(access(s_at("busy.tmp"), F_OK), -1);
}

enum { BIG = 1 << 20 };

/* 1 when buf is BIG bytes, all of them c. */
static int s_all(const char *buf, size_t len, char c)
{
    if (len != BIG)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] != c)
            return 0;
    return 1;
}

static void test_write_old_or_new(void **state)
{
    (void)state;
    const char *path = s_at("big");
    char *a = malloc(BIG), *b = malloc(BIG);
    memset(a, 'a', BIG);
    memset(b, 'b', BIG);
    assert_int_equal(crr_datadir_write_file(path, a, BIG, 0644), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {                       /* rewrites the file, b and a in turn, until killed */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion must not leave it running */
        close(ready[0]);
        for (unsigned long i = 0;; i++) {
            if (crr_datadir_write_file(path, i % 2 ? a : b, BIG, 0644) != 0)
                _exit(2);
            if (i == 0 && write(ready[1], "y", 1) != 1)
                _exit(2);
        }
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1); /* at least one b written */
    close(ready[0]);
    for (int i = 0; i < 50; i++) {
        size_t len;
        char *got = s_slurp(path, &len);
        assert_non_null(got);
        assert_true(s_all(got, len, 'a') || s_all(got, len, 'b'));
        free(got);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* it was still writing: no write failed */
    size_t len;
    char *got = s_slurp(path, &len);
    assert_true(s_all(got, len, 'a') || s_all(got, len, 'b'));
    free(got);
    unlink(s_at("big.tmp")); /* the kill may leave one, as a crash would */
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_by_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_released_by_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_uncreatable_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_file_stale_tmp_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_old_or_new, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
