/* vmsandbox gc: removes what a killed vmsandbox left (job directories whose
 * lock is free, and their domains).  Also run at every start of run. */
#include "cli.h"
#include "config.h"
#include "gc.h"

#include <stdio.h>
#include <string.h>

void cli_gc_quiet(const vs_config *cfg)
{
        vs_gc_stats st;
        vs_error err = { 0 };

        /* libvirt being down is reported by the job itself. */
        vs_gc(cfg->uri, cfg->state_dir, &st, &err);
}

int cmd_gc(int argc, char **argv)
{
        vs_config cfg;
        vs_error err = { 0 };
        vs_gc_stats st;
        int r;

        if (argc > 1) {
                bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
                fputs("Usage: vmsandbox gc\n\nRemoves what a killed vmsandbox left behind: job directories under the\n"
                      "state dir whose lock nobody holds, and the vmsandbox domains running on them.\n"
                      "Live jobs (of this or any other vmsandbox process) are never touched.\n",
                      help ? stdout : stderr);
                return help ? 0 : EXIT_USAGE;
        }
        if (vs_config_load(&cfg, &err) < 0)
                return cli_fail(&err);
        r = vs_gc(cfg.uri, cfg.state_dir, &st, &err);
        printf("removed %u job director%s, destroyed %u domain%s\n", st.dirs, st.dirs == 1 ? "y" : "ies", st.domains,
               st.domains == 1 ? "" : "s");
        if (st.failed)
                fprintf(stderr, "vmsandbox: %u job directories could not be removed\n", st.failed);
        vs_config_clear(&cfg);
        if (r < 0)
                return cli_fail(&err);
        return st.failed ? 1 : 0;
}
