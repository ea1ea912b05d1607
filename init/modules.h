/* SPDX-License-Identifier: MIT */
/* Kernel modules through libkmod (DESIGN §1 step 2): the config's list loaded in order with their
 * dependencies from the image's /lib/modules/$(uname -r) (modules.dep made by depmod when the image
 * was built), and the kernel's module helper: the kernel runs `modprobe -q -- NAME` for what it
 * needs on demand (crypto templates for dm-crypt: "crypto-xts", ...), so PID 1 points
 * /proc/sys/kernel/modprobe at a link named "modprobe" to cvminit-modprobe (MODULES_HELPER_BIN, a
 * small program linked with libkmod only) when the image has it, else to itself: cvminit started
 * under that name (or as `cvminit --modprobe ...`) loads the module and exits. install/remove
 * commands of modprobe.d are never run; no modprobe.d is read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define MODULES_HELPER_LINK "/run/cvminit/modprobe"
/* Where the image keeps cvminit-modprobe (init/helper/modprobe.c), if it does. */
#define MODULES_HELPER_BIN "/usr/lib/cvminit/modprobe"
#define MODULES_HELPER_SYSCTL "/proc/sys/kernel/modprobe"
#define MODULE_NAME_MAX 255U

/* Loads each module (name or alias) with its dependencies; dir NULL = /lib/modules/$(uname -r).
 * An already loaded or built-in module is fine. The first failure stops, err naming the module. */
int modules_load(char *const *names, size_t n, const char *dir, errbuf *err);

/* Creates MODULES_HELPER_LINK to MODULES_HELPER_BIN if it is there, else to this program, and
 * writes the link's path to MODULES_HELPER_SYSCTL. */
int modules_install_helper(errbuf *err);

/* True if argv asks for the modprobe mode: argv[0]'s base name is "modprobe", or argv[1] is
 * "--modprobe". */
bool modprobe_mode(int argc, char **argv);
/* The modprobe mode: [--modprobe] [-q] [--] NAME. Returns the exit status (0 loaded, 1 failed,
 * 2 usage). */
int modprobe_main(int argc, char **argv);
