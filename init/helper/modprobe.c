/* SPDX-License-Identifier: MIT */
/* cvminit-modprobe: the kernel's module helper (init/modules.h) as a program of its own. The kernel
 * runs it for every module it asks for on demand (dm-crypt's crypto templates: several per disk);
 * linked against libkmod alone it starts in a fraction of the time cvminit, with its TLS, JSON,
 * TPM and LUKS libraries, takes. cvminit points /proc/sys/kernel/modprobe at it when the image
 * has it at MODULES_HELPER_BIN, and at itself otherwise. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "modules.h"

int main(int argc, char **argv) {
        bool had_stderr = std_fds_ensure();

        log_parse_environment();
        log_set_program("cvminit-modprobe");
        if (!had_stderr)
                log_set_target(LOG_TARGET_CONSOLE_KMSG);
        if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                printf("Usage: cvminit-modprobe [-q] [--] MODULE\n\n"
                       "Loads MODULE and its dependencies with libkmod (modules.dep of the running kernel),\n"
                       "as the kernel's module helper (/proc/sys/kernel/modprobe). Exit 0 loaded, 1 failed,\n"
                       "2 usage.\n");
                return 0;
        }
        return modprobe_main(argc, argv);
}
