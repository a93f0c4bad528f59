/* What the host and the guest agent agree on.
 *
 * The job disk (second virtio disk, ext4, no partition table) holds:
 *   /spec.json            what to run (written by the host)
 *   /in/image.tar         the docker-archive
 *   /in/context.tar       a build's context (spec.json has "build" then)
 *   /in/images/N.tar      a build's FROM images, N < spec.json's "images"
 *   /workspace/           the workspace, read-write in the container
 *   /binds/N              a container's Nth bind (a directory or a file), at
 *                         spec.json's binds[N].target, read-only when "ro"
 *   /out/result.json      the guest's record (written by the agent)
 *   /out/image.tar        the exported image, if asked for (a build's, always)
 *   /out/image.id         a build's image id (docker build --iidfile)
 *
 * The progress channel is a virtio-serial port named VS_CHANNEL_NAME.
 * The agent sends frames: one type byte, a 4-byte big-endian length, then
 * that many payload bytes (at most VS_FRAME_MAX).  The host never trusts a
 * frame: unknown types are ignored, oversize lengths end the stream. */
#ifndef VS_PROTOCOL_H
#define VS_PROTOCOL_H

#define VS_CHANNEL_NAME "org.vmsandbox.progress.0"
#define VS_FRAME_MAX 65536u
#define VS_FRAME_HEADER 5u

#define VS_JOB_DEV "/dev/vdb"
#define VS_JOB_MOUNT "/job"
/* On the guest kernel's command line: how many seconds the agent waits for
 * a hot-plugged job disk before it gives up and powers off. */
#define VS_CMDLINE_DISK_WAIT "vmsandbox.disk_wait_s"
/* Also there when the disk is hot-plugged: the job's network, nat or none,
 * so that the agent starts the engine before the disk (and its spec) come. */
#define VS_CMDLINE_NET "vmsandbox.net"

enum {
        VS_FRAME_STDOUT = 'o',  /* workflow stdout bytes */
        VS_FRAME_STDERR = 'e',  /* workflow stderr bytes */
        VS_FRAME_PHASE = 'p',   /* "<phase> start|end <unix-ms>" */
        VS_FRAME_LOG = 'l',     /* an agent message for the operator */
};

/* Guest phases, in order. */
#define VS_GUEST_PHASES_LIST "engine-ready", "load", "run", "save"

#define VS_RESULT_MAX (1u << 20) /* result.json from the guest */

#endif
