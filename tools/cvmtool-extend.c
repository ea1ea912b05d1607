/* SPDX-License-Identifier: MIT */
/* Placeholder until this subcommand lands. */
#include "cvmtool.h"
int cmd_extend(int argc, char **argv) { (void) argc; (void) argv; fprintf(stderr, "cvmtool: not built yet\n"); return EXIT_USAGE; }
