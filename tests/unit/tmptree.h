/* SPDX-License-Identifier: MIT */
/* A temporary directory tree for unit tests that need files: created by tmptree_setup (a cmocka
 * group/test setup), removed with everything in it by tmptree_teardown; tmptree_run runs a program
 * there from an argv array (no shell string), tmptree_fixture_script a fixture script that makes a
 * test's files with outside tools. Include after cmocka.h. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmpdir;

static inline int tmptree_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
        (void) st, (void) flag, (void) f;
        return remove(p);
}

static inline int tmptree_setup(void **state) {
        char t[] = "/tmp/cvminit-unit.XXXXXX";

        (void) state;
        assert_non_null(mkdtemp(t));
        tmpdir = strdup(t);
        return 0;
}

static inline int tmptree_teardown(void **state) {
        (void) state;
        (void) nftw(tmpdir, tmptree_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(tmpdir);
        tmpdir = NULL;
        return 0;
}

/* The path of rel below tmpdir (a static buffer: use it before the next call). */
static inline char *at(const char *rel) {
        static char p[4096];

        snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
        return p;
}

/* Creates rel (with its parent directories) below tmpdir with the given content. */
static inline void put(const char *rel, const char *content) {
        char p[4096];
        int fd;

        snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
        for (char *q = p + strlen(tmpdir) + 1; (q = strchr(q, '/')); q++) {
                *q = 0;
                (void) mkdir(p, 0755);
                *q = '/';
        }
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
}

/* Runs argv (argv[0] looked up in PATH) with tmpdir as working directory: exit status 77 (a needed
 * tool is missing) skips the test, any other failure fails it, naming the command. */
static inline void tmptree_run(const char *const argv[]) {
        char cmd[2048] = "";
        pid_t pid;
        int st;

        for (size_t i = 0, n = 0; argv[i] && n < sizeof(cmd); i++)
                n += (size_t) snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", argv[i]);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (chdir(tmpdir) == 0)
                        execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
                skip();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("command failed (status 0x%x): %s", (unsigned) st, cmd);
}

/* Runs "bash $FIXTURES/rel TMPDIR CASE" (FIXTURES defaults to tests/fixtures): the script makes the
 * files of case_ in tmpdir, exiting 77 when a tool it needs is missing. */
static inline void tmptree_fixture_script(const char *rel, const char *case_) {
        char script[4096], abs[PATH_MAX];

        snprintf(script, sizeof(script), "%s/%s", getenv("FIXTURES") ?: "tests/fixtures", rel);
        /* Absolute: the script runs in tmpdir. */
        if (!realpath(script, abs))
                fail_msg("fixture script %s: %s", script, strerror(errno));
        tmptree_run((const char *const[]) { "bash", abs, tmpdir, case_, NULL });
}

/* Whether an executable named name is in PATH, /usr/sbin or /sbin (where the fixture scripts look). */
static inline bool tmptree_have_program(const char *name) {
        char *dirs = NULL, *save = NULL, p[4096];
        bool found = false;

        if (asprintf(&dirs, "%s:/usr/sbin:/sbin", getenv("PATH") ?: "") < 0)
                return false;
        for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
                snprintf(p, sizeof(p), "%s/%s", d, name);
                found = access(p, X_OK) == 0;
        }
        free(dirs);
        return found;
}
