/* SPDX-License-Identifier: MIT */
/* Placeholder until this subcommand lands. */
#include "cvmtool.h"
int cmd_hash(int argc, char **argv) { (void) argc; (void) argv; fprintf(stderr, "cvmtool: not built yet\n"); return EXIT_USAGE; }
int cmd_manifest(int argc, char **argv) { (void) argc; (void) argv; fprintf(stderr, "cvmtool: not built yet\n"); return EXIT_USAGE; }
