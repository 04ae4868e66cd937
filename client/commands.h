/* commands.h - the `shears` subcommands. Each takes argc/argv starting at
 * its own name and returns the process exit status:
 *   0 success, 1 some jobs failed, 2 bad usage or input, 130 interrupted. */
#ifndef COMMANDS_H
#define COMMANDS_H

#define EXIT_JOBS_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

int cmd_run(int argc, char **argv);

#endif
