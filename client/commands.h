/* commands.h - the `shears` subcommands. Each takes argc/argv starting at
 * its own name and returns the process exit status:
 *   0 success, 1 some jobs failed, 2 bad usage or input (or the broker
 *   refused the request), 3 broker unreachable or its reply unusable,
 *   130 interrupted. */
#ifndef COMMANDS_H
#define COMMANDS_H

#define EXIT_JOBS_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_INTERRUPTED 130

int cmd_run(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_workers(int argc, char **argv);
int cmd_dataset_hash(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_infer(int argc, char **argv);

#endif
