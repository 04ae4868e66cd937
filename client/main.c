/* main.c - the `shears` command line: dispatches to a subcommand. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#define SHEARS_VERSION "0.1.0"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run a pruning sweep on this machine (default: the built-in sweep)"},
    {"submit", cmd_submit, "submit a sweep to a broker and print its id"},
    {"status", cmd_status, "show sweeps in progress on a broker"},
    {"watch", cmd_watch, "follow a sweep until it finishes"},
    {"results", cmd_results, "print a sweep's accuracy-vs-density table (--csv, --json)"},
    {"fetch", cmd_fetch, "download a sweep's checkpoints and metrics"},
    {"cancel", cmd_cancel, "cancel a sweep (finished results stay)"},
    {"workers", cmd_workers, "list the broker's workers"},
#ifdef SHEARS_HAVE_PLPLOT
    {"plot", cmd_plot, "draw accuracy against density and model size (PNG, SVG, PDF)"},
    {"report", cmd_report, "write a self-contained HTML report of a sweep"},
#endif
    {"compress", cmd_compress, "write a compressed model (.shm) from a checkpoint"},
    {"inspect", cmd_inspect, "show what is in a compressed model and what it costs"},
    {"infer", cmd_infer, "accuracy and throughput of a compressed model on a dataset"},
    {"keygen", cmd_keygen, "write a CURVE key pair (NAME.key, NAME.pub)"},
    {"dataset-hash", cmd_dataset_hash, "print the checksum for a dataset served by URL"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: shears COMMAND [ARGS]\n\n"
               "shears turns one dense training run into many pruned models\n"
               "(magnitude pruning with weight and learning-rate rewinding).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`shears COMMAND --help` describes a command. The broker address comes from\n"
               "--broker or SHEARS_BROKER (default tcp://127.0.0.1:5555). A broker with CURVE\n"
               "needs --curve-secret FILE (this client's key) and --curve-server FILE (the\n"
               "broker's public key), or SHEARS_CURVE_SECRET and SHEARS_CURVE_SERVER.\n"
               "exit status: 0 ok, 1 jobs failed, 2 bad usage or input (or refused by the\n"
               "broker), 3 broker unreachable, 130 interrupted\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("shears %s\n", SHEARS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "shears: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
