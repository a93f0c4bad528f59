/* Can QEMU reach a directory?  Under qemu:///system QEMU runs as
 * libvirt-qemu (uid 64055 on Debian); libvirt chowns the disks it opens but
 * not their parents, so every directory on the way must be searchable by
 * that user.  A state dir below a 0700 directory (mktemp -d) otherwise fails
 * every job at boot with "Cannot access storage file ... Permission denied". */
#ifndef VS_QEMUACCESS_H
#define VS_QEMUACCESS_H

#include "error.h"

#define VS_QEMU_USER "libvirt-qemu"

/* 0 when the QEMU user can search path and every directory above it (a
 * missing tail is fine: it is checked up to its deepest existing ancestor,
 * and vmsandbox creates the rest 0711).  Otherwise -1 with err
 * (VS_ERR_SETUP) naming the directory that stops it and the fix; what is
 * the directory's role ("--state-dir", "base image") starts the message.
 * Checked as that user (a child process drops to its uid, gid and groups),
 * so modes, ACLs and groups all count.  When not root, or the user does not
 * exist (qemu:///session), there is nothing to check: 0. */
int vs_check_qemu_access(const char *what, const char *path, vs_error *err);

#endif
