/* SPDX-License-Identifier: MIT */
/* A temporary directory tree for unit tests that need files: created by tmptree_setup (a cmocka
 * group/test setup), removed with everything in it by tmptree_teardown; tmptree_vsh runs a shell
 * command there (tests that make their files with outside tools). Include after cmocka.h. */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
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

/* Runs "set -e; PATH=$PATH:/usr/sbin:/sbin; cd TMPDIR; PRELUDE; CMD" with CMD formatted from fmt and
 * ap: exit status 77 (the PRELUDE's way to say a tool is missing) skips the test, any other failure
 * fails it. */
static inline void tmptree_vsh(const char *prelude, const char *fmt, va_list ap) {
        char cmd[4096], full[4096 + 1024];
        int st;

        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        snprintf(full, sizeof(full), "set -e; PATH=$PATH:/usr/sbin:/sbin; cd '%s'; %s; %s", tmpdir, prelude, cmd);
        st = system(full);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
                skip();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("command failed: %s", cmd);
}
