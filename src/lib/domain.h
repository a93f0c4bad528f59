/* The job VM through libvirt: a transient domain that libvirt destroys by
 * itself if our connection goes away (a killed vmsandbox leaves no VM). */
#ifndef VS_DOMAIN_H
#define VS_DOMAIN_H

#include "error.h"

#include <libvirt/libvirt.h>
#include <stdbool.h>

int vs_libvirt_connect(const char *uri, virConnectPtr *ret, vs_error *err);
int vs_domain_start(virConnectPtr conn, const char *xml, virDomainPtr *ret, vs_error *err);
/* Hot-plugs the raw job disk at path (vs_job_disk_xml) into the running
 * domain.  The caller makes sure nothing else has it open for writing. */
int vs_domain_attach_disk(virDomainPtr dom, const char *path, vs_error *err);
/* 1 while the domain runs, 0 once it has powered off and gone, -1 when
 * libvirtd cannot tell (the connection was lost: libvirtd restarted). */
int vs_domain_running(virDomainPtr dom);
/* After a lost connection: reconnects to uri (retrying for up to wait_ms)
 * and destroys the domain called name if it still exists.  0 when it is
 * gone; -1 (err set) when that could not be made sure. */
int vs_domain_destroy_by_name(const char *uri, const char *name, unsigned wait_ms, vs_error *err);
/* Destroys the domain if it still runs; safe to call on any path. */
void vs_domain_kill(virDomainPtr dom);
/* Names of domains carrying the vmsandbox metadata tag (for gc and doctor). */
int vs_domain_list_ours(virConnectPtr conn, char ***ret_names, vs_error *err);

void vs_connect_closep(virConnectPtr *c);
void vs_domain_freep(virDomainPtr *d);
#define _cleanup_connect_ __attribute__((cleanup(vs_connect_closep)))
#define _cleanup_domain_ __attribute__((cleanup(vs_domain_freep)))

#endif
