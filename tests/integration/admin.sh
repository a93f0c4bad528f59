#!/bin/bash
# The first-time administrator's path (issue 10), end to end: install-service
# -> the service started as it says (by hand: no systemd as PID 1 here) -> one
# job through its unix socket by a non-root member of its group, with a client
# token made with the installed admin token -> `vmsandbox doctor serve` on the
# installed flags -> uninstall, and nothing left behind (files, group,
# processes, domains).  Before that, setup-host's appliance kernel: it installs
# none; without a readable host kernel it unpacks a package into a directory
# of this suite's (VMSANDBOX_APPLIANCE_KERNEL, VMSANDBOX_BOOT_DIR), leaving the
# host's packages and /boot as they were.
#
# Every root comes from the VMSANDBOX_* variables of install-service: this
# suite installs below its own work dir and a group of its own, so it never
# touches /usr/local, /etc/vmsandbox or /var/lib/vmsandbox of this host.  The
# base image is the host's (VMSANDBOX_IMAGE_DIR, default
# /var/lib/vmsandbox/images/default): it is outside the private state dir,
# so uninstall leaves it.
#   tests/integration/admin.sh [BUILD_DIR]      (run it under the VM lock)
. "$(dirname "$0")/lib.sh"
it_init admin "$(cd "${1:-$(dirname "$0")/../../build}" && pwd)"
unset VMSANDBOX_SERVER VMSANDBOX_TOKEN VMSANDBOX_CONFIG VMSANDBOX_ACCEL VMSANDBOX_STATE_DIR
[ "$(id -u)" = 0 ] || { echo "admin.sh: run as root (it installs a service)"; exit 2; }

it_expect no_sudo setup_host_help setup_host_help_text setup_host_unknown_arg setup_host_installs_no_kernel setup_host_unpacks_kernel setup_host_host_kernel dry_run_changes_nothing install install_files install_modes install_group install_unit \
    install_conf install_manual_start install_again_keeps_token service_started socket_group metrics_token \
    client_outside_group_refused job_through_socket doctor_service doctor_appliance_kernel doctor_token_mode \
    doctor_appliance_kernel_broken uninstall_refused_while_running service_stopped uninstall uninstall_packages \
    uninstall_appliance_kernel nothing_left

root=$work/root
grp=vmsandbox-it$$
export VMSANDBOX_PREFIX=$root/usr/local VMSANDBOX_ETC=$root/etc/vmsandbox VMSANDBOX_STATE=$root/var/lib/vmsandbox \
    VMSANDBOX_ALLOW_ROOT=$root/srv/vmsandbox VMSANDBOX_RUN=$root/run/vmsandbox VMSANDBOX_UNIT_DIR=$root/etc/systemd/system \
    VMSANDBOX_GROUP=$grp VMSANDBOX_UIDS_DIR=$root/run/vmsandbox-uids VMSANDBOX_BUILD=$build VMSANDBOX_IMAGE_DIR=${VMSANDBOX_IMAGE_DIR:-/var/lib/vmsandbox/images/default} \
    VMSANDBOX_APPLIANCE_KERNEL=$root/var/lib/vmsandbox/appliance-kernel
bin=$VMSANDBOX_PREFIX/bin/vmsandbox
sock=$VMSANDBOX_RUN/api.sock
pstate=$VMSANDBOX_STATE
[ -e "$VMSANDBOX_IMAGE_DIR/manifest.json" ] || { echo "no base image in $VMSANDBOX_IMAGE_DIR: run scripts/setup-host"; exit 2; }
getent group "$grp" >/dev/null && { echo "group $grp exists already"; exit 2; }
# A fresh Debian's directories (QEMU, libvirt-qemu, traverses them down to
# the state dir): what is there before install must be all that is left.
mkdir -m 0711 "$root"
for d in usr/local/bin usr/local/libexec usr/local/share/doc etc/systemd/system var/lib srv run; do
    mkdir -p -m 0755 "$root/$d"
done
# gone PID: exited (a zombie not yet reaped counts).
gone() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0; [[ $s == Z* ]]; }
skeleton() { find "$root" -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort; }
skeleton > "$work/skeleton"
server=""
cleanup() {   # a failed run must not leave a server or the group behind
    [ -n "$server" ] && kill -0 "$server" 2>/dev/null && { kill -TERM "$server"; wait "$server"; }
    getent group "$grp" >/dev/null && groupdel "$grp"
}
trap cleanup EXIT

# ---- 1. no sudo command in what the admin reads or is told (a `sudo` in
# backquotes is the docs saying it is not needed) --------------------------
{ grep -nE '(^|[^`])sudo([^`]|$)' "$here/README.md" "$here"/docs/*.md "$here/src/lib/domain.c" "$here/src/lib/baseimage.c" \
    "$here/src/cli/cmd_doctor.c"; strings "$build/vmsandbox" | grep sudo; } > "$work/sudo.txt" 2>&1
check no_sudo "$(excerpt "$work/sudo.txt")" [ ! -s "$work/sudo.txt" ]

# ---- setup-host's usage: --help is true, a typo changes nothing ---------------
expect setup_host_help 0 "" -- "$here/scripts/setup-host" --help
check setup_host_help_text "$(excerpt "$work/setup_host_help.out")" has_line "$work/setup_host_help.out" '^  setup-host --appliance-kernel '
expect setup_host_unknown_arg 2 "setup-host: unknown argument --aplliance (see setup-host --help)" -- \
    "$here/scripts/setup-host" --aplliance

# ---- setup-host's appliance kernel: never an installed one -------------------
sed -n '/^packages=(/,/^)/p' "$here/scripts/setup-host" | grep -v '^ *#' | grep -oE '\blinux-(image|headers)[^ ]*' > "$work/kpkgs"
check setup_host_installs_no_kernel "$(excerpt "$work/kpkgs")" [ ! -s "$work/kpkgs" ]
host_kernel_state() { dpkg-query -W -f='${Package} ${Status}\n' 'linux-image*' 2>/dev/null; ls -l --time-style=+%s /boot; }
host_kernel_state > "$work/kstate-before"
mkdir "$work/noboot"
VMSANDBOX_BOOT_DIR=$work/noboot VMSANDBOX_APPLIANCE_KERNEL=$work/ak "$here/scripts/setup-host" --appliance-kernel \
    > "$work/ak.out" 2> "$work/ak.err"; code=$?
host_kernel_state > "$work/kstate-after"
kv=$(sed -n 's/^version=//p' "$work/ak.out")
if [ $code = 0 ] && [ -n "$kv" ] && has_line "$work/ak.out" "^kernel=$work/ak/root/boot/vmlinuz-$kv\$" &&
   [ -s "$work/ak/root/boot/vmlinuz-$kv" ] && [ -s "$work/ak/root/lib/modules/$kv/modules.dep" ] &&
   [ "$(cat "$work/ak/version")" = "$kv" ] && has_line "$work/ak.err" 'dpkg-deb -x: not installed' &&
   cmp -s "$work/kstate-before" "$work/kstate-after"; then pass setup_host_unpacks_kernel
else fail setup_host_unpacks_kernel "exit $code: $(excerpt "$work/ak.out") $(excerpt "$work/ak.err") $(diff "$work/kstate-before" "$work/kstate-after" | head -5)"; fi
# A readable host kernel (here a fake one of this release) is used as it is.
rel=$(uname -r)
mkdir -p "$work/boot" "$work/modules/$rel" "$work/ak-host"
: > "$work/boot/vmlinuz-$rel"; : > "$work/modules/$rel/modules.dep"; echo "$kv" > "$work/ak-host/version"
VMSANDBOX_BOOT_DIR=$work/boot VMSANDBOX_MODULES_DIR=$work/modules VMSANDBOX_APPLIANCE_KERNEL=$work/ak-host \
    "$here/scripts/setup-host" --appliance-kernel > "$work/akh.out" 2>&1; code=$?
if [ $code = 0 -a ! -e "$work/ak-host" ] && has_line "$work/akh.out" "^kernel=$work/boot/vmlinuz-$rel\$" &&
   has_line "$work/akh.out" "^modules=$work/modules/$rel\$"; then pass setup_host_host_kernel
else fail setup_host_host_kernel "exit $code: $(excerpt "$work/akh.out")"; fi

# ---- install ----------------------------------------------------------------
"$here/scripts/install-service" --dry-run > "$work/dry.out" 2>&1; code=$?
if [ $code = 0 ] && has_line "$work/dry.out" "create the system group $grp" && has_line "$work/dry.out" 'nothing changed' &&
   [ "$(skeleton)" = "$(cat "$work/skeleton")" ] && ! getent group "$grp" >/dev/null; then pass dry_run_changes_nothing
else fail dry_run_changes_nothing "exit $code: $(excerpt "$work/dry.out") $(skeleton | head -3)"; fi

"$here/scripts/install-service" > "$work/install.out" 2>&1; code=$?
check install "exit $code: $(excerpt "$work/install.out" 600)" [ $code = 0 ]
files_ok=1
for f in "$bin" "$VMSANDBOX_PREFIX/libexec/vmsandbox/vmsandbox-agent" "$VMSANDBOX_PREFIX/share/doc/vmsandbox/api.md" \
         "$VMSANDBOX_PREFIX/share/doc/vmsandbox/admin.md" "$VMSANDBOX_PREFIX/share/doc/vmsandbox/README.md" \
         "$VMSANDBOX_UNIT_DIR/vmsandbox.service" "$VMSANDBOX_ETC/token" "$VMSANDBOX_ETC/metrics-token" \
         "$VMSANDBOX_ETC/vmsandbox.conf"; do
    [ -f "$f" ] || { files_ok=0; echo "missing $f" >> "$work/missing"; }
done
cmp -s "$bin" "$build/vmsandbox" || { files_ok=0; echo "$bin differs from the build" >> "$work/missing"; }
check install_files "$(excerpt "$work/missing")" [ $files_ok = 1 ]
modes=$(stat -c '%n %a %U' "$bin" "$VMSANDBOX_ETC" "$VMSANDBOX_ETC/token" "$VMSANDBOX_ETC/metrics-token" "$VMSANDBOX_ETC/vmsandbox.conf" "$pstate" \
    "$VMSANDBOX_ALLOW_ROOT" "$VMSANDBOX_UNIT_DIR/vmsandbox.service" | sed "s|$root||")
want="/usr/local/bin/vmsandbox 755 root
/etc/vmsandbox 700 root
/etc/vmsandbox/token 600 root
/etc/vmsandbox/metrics-token 600 root
/etc/vmsandbox/vmsandbox.conf 600 root
/var/lib/vmsandbox 711 root
/srv/vmsandbox 755 root
/etc/systemd/system/vmsandbox.service 644 root"
check install_modes "$(echo $modes)" [ "$modes" = "$want" -a "$(tr -d '\n' < "$VMSANDBOX_ETC/token" | wc -c)" = 64 -a \
    "$(tr -d '\n' < "$VMSANDBOX_ETC/metrics-token" | wc -c)" = 64 ]
has_group() { getent group "$1" >/dev/null; }
check install_group "no group $grp" has_group "$grp"
# The unit's ExecStart is the template's with this installation's paths.
sed -n '/^ExecStart=/,/[^\\]$/p' "$VMSANDBOX_UNIT_DIR/vmsandbox.service" | tr -d '\\\n' | tr -s ' ' > "$work/exec"
wantexec="ExecStart=$bin serve --socket $sock --socket-group $grp --docker-group $grp --token-file $VMSANDBOX_ETC/token --metrics-token-file $VMSANDBOX_ETC/metrics-token --state-dir $pstate --allow-root $VMSANDBOX_ALLOW_ROOT"
check install_unit "$(cat "$work/exec") vs $wantexec" [ "$(cat "$work/exec")" = "$wantexec" ] &&
    { has_line "$VMSANDBOX_UNIT_DIR/vmsandbox.service" "^Environment=VMSANDBOX_CONFIG=$VMSANDBOX_ETC/vmsandbox.conf\$" ||
      fail install_unit "no Environment=VMSANDBOX_CONFIG line"; }
check install_conf "$(excerpt "$VMSANDBOX_ETC/vmsandbox.conf")" \
    [ "$(grep -v '^#' "$VMSANDBOX_ETC/vmsandbox.conf")" = "image = $VMSANDBOX_IMAGE_DIR
state_dir = $pstate" ]
# No systemd here: it says how to start the service by hand (the two lines run below).
sed -n '/^No systemd as PID 1/,/^and stop it/p' "$work/install.out" | sed '1d;$d;s/^    //' > "$work/start.sh"
check install_manual_start "$(excerpt "$work/install.out" 600)" [ "$(wc -l < "$work/start.sh")" = 2 ]
tok=$(cat "$VMSANDBOX_ETC/token") mtok0=$(cat "$VMSANDBOX_ETC/metrics-token")
"$here/scripts/install-service" > "$work/install2.out" 2>&1; code=$?
check install_again_keeps_token "exit $code: $(excerpt "$work/install2.out")" \
    [ $code = 0 -a "$(cat "$VMSANDBOX_ETC/token")" = "$tok" -a "$(cat "$VMSANDBOX_ETC/metrics-token")" = "$mtok0" ]

# ---- the service, started as install-service said ----------------------------
eval "$(sed -n 1p "$work/start.sh")"
eval "$(sed -n 2p "$work/start.sh")"; server=$!
if wait_for 30 healthy http://localhost "$server" "$sock"; then pass service_started
else fail service_started "$(excerpt "$pstate/serve.log")"; fi
check socket_group "$(stat -c '%a %G' "$sock" 2>&1)" [ "$(stat -c '%a %G' "$sock" 2>&1)" = "660 $grp" ]
# The metrics token it made reads /metrics, and nothing else.
mtok=$(cat "$VMSANDBOX_ETC/metrics-token")
m200=$(curl -s --unix-socket "$sock" -o "$work/metrics.txt" -w '%{http_code}' -H "Authorization: Bearer $mtok" http://localhost/metrics)
m403=$(curl -s --unix-socket "$sock" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $mtok" http://localhost/v1/jobs)
if [ "$m200" = 200 ] && [ "$m403" = 403 ] && has_line "$work/metrics.txt" '^vmsandbox_running_vms 0$'; then pass metrics_token
else fail metrics_token "/metrics $m200, /v1/jobs $m403: $(excerpt "$work/metrics.txt")"; fi

# A client token, made with the installed admin token; the client runs as
# nobody (no root, no libvirt), a member of the group.
curl -s --unix-socket "$sock" -o "$work/tok.json" -X POST -H "Authorization: Bearer $tok" http://localhost/v1/tokens
jq -r .token "$work/tok.json" > "$work/client-token"
chmod 0644 "$work/client-token"
"$here/scripts/make-test-image" --out "$work/hello.tar"
chmod 0644 "$work/hello.tar"
gid=$(getent group "$grp" | cut -d: -f3)
expect client_outside_group_refused 2 "Couldn't connect to server" -- \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" status 0123456789ab --server "unix:$sock" --token-file "$work/client-token"
# The installed config is root's alone (0700 dir): a client must not need it.
setpriv --reuid=65534 --regid=65534 --groups="$gid" env VMSANDBOX_CONFIG="$VMSANDBOX_ETC/vmsandbox.conf" "$bin" submit --server "unix:$sock" --token-file "$work/client-token" \
    --image "$work/hello.tar" --follow -- sh -c 'echo via-installed-service' > "$work/job.out" 2> "$work/job.err"; code=$?
if [ $code = 0 ] && has_line "$work/job.out" '^via-installed-service$'; then pass job_through_socket
else fail job_through_socket "exit $code: $(excerpt "$work/job.err") $(excerpt "$pstate/serve.log")"; fi

# ---- doctor, on the service's own flags ---------------------------------------
read -ra flags <<< "$(sed -n 's/^ExecStart=[^ ]* serve //p' "$work/exec")"
VMSANDBOX_APPLIANCE_KERNEL=$work/ak VMSANDBOX_CONFIG=$VMSANDBOX_ETC/vmsandbox.conf "$bin" doctor serve "${flags[@]}" \
    > "$work/doctor.out" 2>&1; code=$?
check doctor_appliance_kernel "$(excerpt "$work/doctor.out" 800)" \
    has_line "$work/doctor.out" "^ok +appl\\. kernel +$kv, unpacked in $work/ak \\(not installed\\)\$"
if [ $code = 0 ] && has_line "$work/doctor.out" "^ok +token +$VMSANDBOX_ETC/token mode 0600" &&
   has_line "$work/doctor.out" "^ok +state-dir" && has_line "$work/doctor.out" "^ok +allow-root" &&
   has_line "$work/doctor.out" "^ok +socket group" && has_line "$work/doctor.out" "^ok +qemu access +$pstate and" &&
   has_line "$work/doctor.out" '^all checks passed$'; then pass doctor_service
else fail doctor_service "exit $code: $(excerpt "$work/doctor.out" 800)"; fi
# One more doctor run, two failures: the token's mode, a broken unpacked kernel.
chmod 0644 "$VMSANDBOX_ETC/token"
echo "../../etc" > "$work/ak/version"
VMSANDBOX_APPLIANCE_KERNEL=$work/ak VMSANDBOX_CONFIG=$VMSANDBOX_ETC/vmsandbox.conf "$bin" doctor serve "${flags[@]}" \
    > "$work/doctor2.out" 2>&1; code=$?
chmod 0600 "$VMSANDBOX_ETC/token"
if [ $code = 1 ] && has_line "$work/doctor2.out" "^FAIL +token +--token-file $VMSANDBOX_ETC/token is mode 0644"; then pass doctor_token_mode
else fail doctor_token_mode "exit $code: $(excerpt "$work/doctor2.out" 600)"; fi
if [ $code = 1 ] && has_line "$work/doctor2.out" "^FAIL +appl\\. kernel +the appliance kernel in $work/ak \\(run scripts/setup-host again\\): $work/ak/version: not a kernel release\$"; then pass doctor_appliance_kernel_broken
else fail doctor_appliance_kernel_broken "exit $code: $(excerpt "$work/doctor2.out" 600)"; fi
rm -rf "$work/ak"

# ---- uninstall --------------------------------------------------------------
"$here/scripts/uninstall" > "$work/un1.out" 2>&1; code=$?
if [ $code = 1 -a -f "$bin" -a -d "$pstate" ] && has_line "$work/un1.out" "still runs on $pstate \\(pid $server\\)"; then pass uninstall_refused_while_running
else fail uninstall_refused_while_running "exit $code: $(excerpt "$work/un1.out")"; fi
kill -TERM "$server"
if wait_for 60 gone "$server"; then wait "$server"; code=$?; check service_stopped "exit $code" [ $code = 0 ]
else kill -KILL "$server"; wait "$server"; fail service_stopped "still running 60 s after SIGTERM"; fi
server=""
printf 'jq\ncurl\njq\n' > "$pstate/setup-host.packages"   # as setup-host leaves it
mkdir -p "$VMSANDBOX_APPLIANCE_KERNEL/root/boot"; echo "$kv" > "$VMSANDBOX_APPLIANCE_KERNEL/version"
"$here/scripts/uninstall" > "$work/un2.out" 2>&1; code=$?
check uninstall "exit $code: $(excerpt "$work/un2.out" 600)" [ $code = 0 ]
check uninstall_packages "$(excerpt "$work/un2.out")" has_line "$work/un2.out" '^  apt-get purge curl jq$'
if [ ! -e "$VMSANDBOX_APPLIANCE_KERNEL" ] &&
   has_line "$work/un2.out" "^  $VMSANDBOX_APPLIANCE_KERNEL \\(the kernel setup-host unpacked for the libguestfs appliance; no package\\)\$"
then pass uninstall_appliance_kernel
else fail uninstall_appliance_kernel "$(excerpt "$work/un2.out")"; fi
left=$(diff <(skeleton) "$work/skeleton" 2>&1)
getent group "$grp" > "$work/group-left"
pgrep -f -- "$pstate" > "$work/procs-left"
doms=$(our_domains; state=$pstate our_domains) || doms="virsh failed"
if [ -z "$left" ] && [ ! -s "$work/group-left" ] && [ ! -s "$work/procs-left" ] && [ -z "$doms" ] &&
   [ -e "$VMSANDBOX_IMAGE_DIR/manifest.json" ]; then pass nothing_left
else fail nothing_left "files [$(echo $left | cut -c1-300)] group [$(cat "$work/group-left")] procs [$(cat "$work/procs-left")] domains [$doms]"; fi
trap - EXIT
cleanup
rm -rf "$root"
it_summary
