/* What a dead vmsandbox (SIGKILLed CLI or service) left behind: job
 * directories whose lock nobody holds, and vmsandbox domains that belong to
 * such a directory.  Run by `vmsandbox gc` and at every start of run and
 * serve. */
#ifndef VS_GC_H
#define VS_GC_H

#include "error.h"

typedef struct {
        unsigned dirs;      /* job directories removed */
        unsigned domains;   /* domains destroyed */
        unsigned failed;    /* directories that could not be removed */
} vs_gc_stats;

/* A domain is only touched when it carries the vmsandbox metadata tag and
 * the vmsandbox- name prefix, its XML refers to state_dir/jobs/<id>/, and
 * that directory's lock is free (or the directory is gone): the domains of
 * live jobs, and of other state directories, are never touched.  uri may be
 * NULL: then only directories are collected.  Returns -1 with err set when
 * libvirt could not be asked (directories are collected anyway). */
int vs_gc(const char *uri, const char *state_dir, vs_gc_stats *ret_stats, vs_error *err);

#endif
