/* The vmsandbox command line: thin front ends over libvmsandbox. */
#ifndef VS_CLI_H
#define VS_CLI_H

#include "error.h"
#include "pipeline.h"

#include <stdbool.h>

/* Documented exit codes (docs/cli.md). */
enum {
        EXIT_USAGE = 2,       /* bad usage, bad input, host not set up */
        EXIT_TIMEOUT = 124,   /* the job hit --timeout */
        EXIT_SANDBOX = 125,   /* the sandbox failed */
        EXIT_CANCELLED = 130, /* interrupted (SIGINT/SIGTERM) */
};

int cmd_run(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_preload(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Maps a library error to the exit code and prints "vmsandbox: <msg>". */
int cli_fail(const vs_error *err);

/* progress.c: what the user sees while a job runs */
typedef struct {
        bool tty;           /* stderr is a terminal: show progress lines */
        bool json;          /* stdout is reserved for the result record */
        double start;
        volatile int *interrupted;
} cli_progress;

void cli_progress_init(cli_progress *p, bool json, volatile int *interrupted);
const vs_events *cli_progress_events(cli_progress *p);

#endif
