/* The vmsandbox command line: thin front ends over libvmsandbox. */
#ifndef VS_CLI_H
#define VS_CLI_H

#include "error.h"
#include "pipeline.h"
#include "config.h"
#include "spec.h"

#include <stdio.h>

#include <stdbool.h>

/* Documented exit codes (docs/cli.md). */
enum {
        EXIT_USAGE = 2,       /* bad usage, bad input, host not set up */
        EXIT_TIMEOUT = 124,   /* the job hit --timeout */
        EXIT_SANDBOX = 125,   /* the sandbox failed */
        EXIT_CANCELLED = 130, /* interrupted (SIGINT/SIGTERM) */
};

int cmd_run(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_client(const char *verb, int argc, char **argv); /* status, logs, cancel, fetch */
int cmd_doctor(int argc, char **argv);
int cmd_preload(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_gc(int argc, char **argv);
/* The gc of `vmsandbox gc`, silently, at the start of run and serve. */
void cli_gc_quiet(const vs_config *cfg);

/* The flags of `run` (and `submit`, which adds --server, --token-file, --follow). */
typedef struct {
        vs_spec spec;
        vs_config cfg;
        const char *out;
        bool json;
        bool quiet;             /* no progress lines on stderr */
        const char *server, *token_file;
        bool follow;
        const char *host_flag;  /* --accel or --base-image given: the host's choice, not a job's */
        void (*help)(FILE *f);
} run_args;
int cli_parse_run_args(int argc, char **argv, run_args *a, vs_error *err);

/* The flags of `serve` (cmd_serve.c), also read by `doctor serve FLAGS`. */
#include "server.h"
typedef struct {
        vs_server_opts o;
        vs_docker_socket docker[VS_DOCKER_SOCKETS_MAX];
        char **roots;
        vs_config cfg;
} cli_serve_args;
/* 0; -1 when --help was printed; else the exit status, the error printed.
 * On 0, cli_serve_args_clear frees what it holds. */
int cli_parse_serve_args(int argc, char **argv, cli_serve_args *a);
void cli_serve_args_clear(cli_serve_args *a);

/* Maps a library error to the exit code and prints "vmsandbox: <msg>". */
int cli_fail(const vs_error *err);

/* progress.c: what the user sees while a job runs */
typedef enum {
        CLI_PROGRESS_TTY,   /* stderr is a terminal: dimmed progress lines */
        CLI_PROGRESS_PLAIN, /* it is not (a CI log, a notebook): the same lines, plain */
        CLI_PROGRESS_QUIET, /* --quiet: none */
} cli_progress_mode;

typedef struct {
        cli_progress_mode mode;
        bool json;          /* stdout is reserved for the result record */
        double start;
        char open_phase[32]; /* the host phase running, "" for none */
} cli_progress;

/* Also catches SIGINT and SIGTERM: the job polls them as a cancel. */
void cli_progress_init(cli_progress *p, bool json, bool quiet);
const vs_events *cli_progress_events(cli_progress *p);

#endif
