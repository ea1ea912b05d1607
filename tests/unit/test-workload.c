/* SPDX-License-Identifier: MIT */
/* The workload (agent/workload.c): the `workload` event content as exact JCS bytes written by hand
 * (DESIGN §3), the restart policy as a table computed by hand from docs/config.md, and real
 * children: /bin/true and /bin/false for exit statuses, /usr/bin/env for the environment, /bin/pwd
 * for the working directory, /bin/cat /proc/self/{status,stat} for what the kernel says about the
 * child (signal mask and ignored signals, uid/gid/groups, umask, session), /bin/ls /proc/self/fd
 * for leaked descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>

#include "config.h"
#include "jcs.h"
#include "workload.h"

static char *no_env[] = { NULL };

static struct workload make(char **argv) {
        struct workload w = { .exec = argv, .env = no_env, .cwd = (char *) "/", .user = getuid(), .group = getgid() };

        while (argv[w.n_exec])
                w.n_exec++;
        return w;
}

static void expect_content(const struct workload *w, const char *expected) {
        _cleanup_free_ char *text = NULL;
        json_t *o = NULL;
        size_t n = 0;

        assert_int_equal(workload_event_content(w, &o), 0);
        assert_int_equal(jcs_serialize(o, &text, &n), 0);
        assert_string_equal(text, expected);
        json_decref(o);
}

static void test_event_content(void **state) {
        char *argv[] = { (char *) "/opt/app/serve", (char *) "--port", (char *) "8000", (char *) "a \"q\"\n", NULL };
        char *env[] = { (char *) "PORT=8000", (char *) "A_B=x=y", (char *) "E=", NULL };
        struct workload w = make(argv);
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ uint8_t *p = NULL;
        errbuf err = {};
        size_t n = 0;

        (void) state;
        w.env = env;
        w.n_env = 3;
        w.user = 1000;
        w.restart = WORKLOAD_RESTART_ON_FAILURE;
        /* Members sorted, env keys sorted, "=" inside a value kept, group/cwd not part of the event. */
        expect_content(&w, "{\"env\":{\"A_B\":\"x=y\",\"E\":\"\",\"PORT\":\"8000\"},"
                           "\"exec\":[\"/opt/app/serve\",\"--port\",\"8000\",\"a \\\"q\\\"\\n\"],"
                           "\"restart\":\"on-failure\",\"user\":1000}");
        w.env = no_env;
        w.n_env = 0;
        w.user = 0;
        w.restart = WORKLOAD_RESTART_ALWAYS;
        expect_content(&w, "{\"env\":{},\"exec\":[\"/opt/app/serve\",\"--port\",\"8000\",\"a \\\"q\\\"\\n\"],"
                           "\"restart\":\"always\",\"user\":0}");

        /* From the documented full example. */
        assert_int_equal(read_file_limited("tests/fixtures/config/good-full.json", CONFIG_SIZE_MAX, &p, &n), 0);
        assert_int_equal(config_parse(p, n, &c, &err), 0);
        expect_content(&c->workload, "{\"env\":{\"HF_HUB_OFFLINE\":\"1\",\"LANG\":\"C.UTF-8\",\"PORT\":\"8000\"},"
                                     "\"exec\":[\"/opt/app/bin/serve\",\"--port\",\"8000\",\"--model\",\"/models/tiny\"],"
                                     "\"restart\":\"on-failure\",\"user\":1000}");
}

#define EXIT(n) ((n) << 8)
#define KILLED(sig) (sig)
#define CORE(sig) ((sig) | 0x80)

static void test_next(void **state) {
        static const struct {
                enum workload_restart restart;
                unsigned max;
                uint64_t delay;
                int status;
                unsigned restarts;
                int ret;
                uint64_t expect_delay;
        } t[] = {
                { WORKLOAD_RESTART_NO, 3, 1000, EXIT(1), 0, 0, 0 },
                { WORKLOAD_RESTART_NO, 3, 1000, EXIT(0), 0, 0, 0 },
                { WORKLOAD_RESTART_NO, 3, 1000, KILLED(SIGKILL), 0, 0, 0 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, EXIT(0), 0, 0, 0 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, EXIT(1), 0, 1, 1000 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, KILLED(SIGKILL), 1, 1, 2000 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, CORE(SIGSEGV), 2, 1, 4000 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, EXIT(127), 3, 0, 0 },
                { WORKLOAD_RESTART_ON_FAILURE, 0, 1000, EXIT(1), 0, 0, 0 },
                { WORKLOAD_RESTART_ON_FAILURE, 3, 1000, KILLED(SIGTERM), 0, 1, 1000 },
                { WORKLOAD_RESTART_ALWAYS, 3, 1000, EXIT(0), 0, 1, 1000 },
                { WORKLOAD_RESTART_ALWAYS, 3, 1000, EXIT(2), 2, 1, 4000 },
                { WORKLOAD_RESTART_ALWAYS, 3, 1000, EXIT(0), 3, 0, 0 },
                { WORKLOAD_RESTART_ALWAYS, 10, 1000, EXIT(0), 5, 1, 32000 },
                { WORKLOAD_RESTART_ALWAYS, 10, 1000, EXIT(0), 6, 1, 60000 }, /* 64000 capped */
                { WORKLOAD_RESTART_ALWAYS, 100, 60000, EXIT(0), 0, 1, 60000 },
                { WORKLOAD_RESTART_ALWAYS, 1000000, 1000, EXIT(0), 999999, 1, 60000 },
                { WORKLOAD_RESTART_ALWAYS, 5, 0, EXIT(1), 4, 1, 0 },
                { WORKLOAD_RESTART_ALWAYS, 5, 7, EXIT(0), 2, 1, 28 },
                { WORKLOAD_RESTART_ALWAYS, 5, 1, EXIT(0), 4, 1, 16 },
        };
        char *argv[] = { (char *) "/bin/true", NULL };
        struct workload w = make(argv);

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t d = 12345;
                w.restart = t[i].restart;
                w.restart_max = t[i].max;
                w.restart_delay_ms = t[i].delay;
                int r = workload_next(&w, t[i].status, t[i].restarts, &d);
                if (r != t[i].ret || (r == 1 && d != t[i].expect_delay))
                        fail_msg("row %zu: returned %d delay %" PRIu64 ", expected %d delay %" PRIu64, i, r, d,
                                 t[i].ret, t[i].expect_delay);
        }
}

static void test_status_string(void **state) {
        char buf[64];

        (void) state;
        assert_string_equal(workload_status_string(EXIT(3), buf), "exited with status 3");
        assert_string_equal(workload_status_string(KILLED(SIGKILL), buf), "killed by signal SIGKILL");
        assert_string_equal(workload_status_string(CORE(SIGSEGV), buf), "killed by signal SIGSEGV (core dumped)");
}

/* Runs w with stdout and stderr in files; returns the wait status. */
static int run(const struct workload *w, char **out, char **err_text) {
        int saved_out, saved_err, fd_out, fd_err, status = -1;
        size_t n;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        fd_out = open(at("stdout"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        fd_err = open(at("stderr"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd_out >= 0 && fd_err >= 0);
        saved_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(dup2(fd_out, STDOUT_FILENO) == STDOUT_FILENO && dup2(fd_err, STDERR_FILENO) == STDERR_FILENO);
        int r = workload_spawn(w, &pid);
        assert_true(dup2(saved_out, STDOUT_FILENO) == STDOUT_FILENO && dup2(saved_err, STDERR_FILENO) == STDERR_FILENO);
        close(saved_out);
        close(saved_err);
        close(fd_out);
        close(fd_err);
        assert_int_equal(r, 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(read_file_limited(at("stdout"), 1 << 20, (uint8_t **) out, &n), 0);
        assert_int_equal(read_file_limited(at("stderr"), 1 << 20, (uint8_t **) err_text, &n), 0);
        return status;
}

static void test_spawn_exit(void **state) {
        char *t[] = { (char *) "/bin/true", NULL }, *f[] = { (char *) "/bin/false", NULL };
        struct workload wt = make(t), wf = make(f);
        _cleanup_free_ char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL;

        (void) state;
        assert_int_equal(run(&wt, &o1, &e1), EXIT(0));
        assert_int_equal(run(&wf, &o2, &e2), EXIT(1));
        assert_string_equal(e1, "");
}

static void test_spawn_env_cwd(void **state) {
        char *env_argv[] = { (char *) "/usr/bin/env", NULL }, *pwd_argv[] = { (char *) "/bin/pwd", NULL };
        char *env[] = { (char *) "A=1", (char *) "B=two words", (char *) "C==", NULL };
        struct workload we = make(env_argv), wp = make(pwd_argv);
        _cleanup_free_ char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL, *o3 = NULL, *e3 = NULL, *dir = NULL;

        (void) state;
        /* Nothing of the test's own environment gets through. */
        setenv("CVMINIT_TEST_LEAK", "1", 1);
        assert_int_equal(run(&we, &o1, &e1), EXIT(0));
        assert_string_equal(o1, "");
        we.env = env;
        we.n_env = 3;
        assert_int_equal(run(&we, &o2, &e2), EXIT(0));
        assert_string_equal(o2, "A=1\nB=two words\nC==\n");
        unsetenv("CVMINIT_TEST_LEAK");

        put("work/.keep", "");
        assert_true(asprintf(&dir, "%s/work", tmpdir) > 0);
        wp.cwd = dir;
        assert_int_equal(run(&wp, &o3, &e3), EXIT(0));
        assert_true(strncmp(o3, dir, strlen(dir)) == 0 && strcmp(o3 + strlen(dir), "\n") == 0);
}

static void test_spawn_failures(void **state) {
        char *missing[] = { (char *) "/nonexistent/app", NULL }, *t[] = { (char *) "/bin/true", NULL };
        struct workload wm = make(missing), wc = make(t);
        _cleanup_free_ char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL;
        char *bad[] = { NULL };
        struct workload wb = make(bad);
        pid_t pid;

        (void) state;
        assert_int_equal(run(&wm, &o1, &e1), EXIT(WORKLOAD_EXIT_SPAWN_FAILED));
        assert_string_equal(e1, "cvminit: workload: cannot execute /nonexistent/app: No such file or directory\n");
        wc.cwd = (char *) "/nonexistent-dir";
        assert_int_equal(run(&wc, &o2, &e2), EXIT(WORKLOAD_EXIT_SPAWN_FAILED));
        assert_string_equal(e2, "cvminit: workload: cannot enter /nonexistent-dir: No such file or directory\n");
        assert_int_equal(workload_spawn(&wb, &pid), -EINVAL);
}

/* The value of a "Name:\t..." line of /proc/PID/status output. */
static const char *status_field(const char *status, const char *name, char *out, size_t n) {
        const char *p = strstr(status, name), *e;

        assert_non_null(p);
        p += strlen(name);
        e = strchr(p, '\n');
        snprintf(out, n, "%.*s", (int) (e - p), p);
        return out;
}

static void test_spawn_process_state(void **state) {
        char *argv[] = { (char *) "/bin/cat", (char *) "/proc/self/status", NULL };
        struct workload w = make(argv);
        _cleanup_free_ char *out = NULL, *err = NULL;
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        sigset_t block, saved;
        char v[256];
        bool root = geteuid() == 0;

        (void) state;
        /* What PID 1 does to itself must not reach the workload. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &block, &saved), 0);
        assert_int_equal(sigaction(SIGUSR1, &ign, &old), 0);
        mode_t mask = umask(0077);
        if (root) {
                w.user = 65534;
                w.group = 65533;
        }
        assert_int_equal(run(&w, &out, &err), EXIT(0));
        umask(mask);
        assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
        assert_int_equal(sigprocmask(SIG_SETMASK, &saved, NULL), 0);

        assert_string_equal(status_field(out, "SigBlk:\t", v, sizeof(v)), "0000000000000000");
        assert_string_equal(status_field(out, "SigIgn:\t", v, sizeof(v)), "0000000000000000");
        assert_string_equal(status_field(out, "Umask:\t", v, sizeof(v)), "0022");
        if (root) {
                assert_string_equal(status_field(out, "Uid:\t", v, sizeof(v)), "65534\t65534\t65534\t65534");
                assert_string_equal(status_field(out, "Gid:\t", v, sizeof(v)), "65533\t65533\t65533\t65533");
                assert_null(strpbrk(status_field(out, "Groups:\t", v, sizeof(v)), "0123456789"));
        }
}

static void test_spawn_session_fds(void **state) {
        char *stat_argv[] = { (char *) "/bin/cat", (char *) "/proc/self/stat", NULL };
        char *ls_argv[] = { (char *) "/bin/ls", (char *) "/proc/self/fd", NULL };
        struct workload ws = make(stat_argv), wl = make(ls_argv);
        _cleanup_free_ char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL;
        long pid = 0, session = -1;
        int leak;

        (void) state;
        assert_int_equal(run(&ws, &o1, &e1), EXIT(0));
        /* pid (comm) state ppid pgrp session ... */
        assert_int_equal(sscanf(o1, "%ld (cat) %*c %*d %*d %ld", &pid, &session), 2);
        assert_int_equal(session, pid);

        /* A descriptor without O_CLOEXEC (a bug elsewhere) still does not reach the workload. */
        leak = dup2(STDIN_FILENO, 100);
        assert_int_equal(leak, 100);
        assert_int_equal(run(&wl, &o2, &e2), EXIT(0));
        close(leak);
        assert_string_equal(o2, "0\n1\n2\n3\n"); /* 3 is ls's own directory handle */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event_content),
                cmocka_unit_test(test_next),
                cmocka_unit_test(test_status_string),
                cmocka_unit_test_setup_teardown(test_spawn_exit, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_spawn_env_cwd, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_spawn_failures, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_spawn_process_state, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_spawn_session_fds, tmptree_setup, tmptree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
