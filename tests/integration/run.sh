#!/bin/bash
# Integration tests of `vmsandbox run` and the CLI: the real binary against
# real libvirtd, libguestfs and TCG/KVM guests.  Checks that need no VM run
# first; the VM tests run in two parallel groups (this machine class has 2
# cores), each VM checking several things at once.
#   tests/integration/run.sh [BUILD_DIR]      (run it under the VM lock)
# All jobs use a private state dir ($VMSANDBOX_STATE_DIR below the work dir),
# so the leftover checks count only this suite's domains and job dirs.
. "$(dirname "$0")/lib.sh"
it_init run "$(cd "${1:-$(dirname "$0")/../../build}" && pwd)"
export VMSANDBOX_STATE_DIR=$state
unset VMSANDBOX_ACCEL VMSANDBOX_CONFIG VMSANDBOX_URI VMSANDBOX_SERVER VMSANDBOX_TOKEN
base_image=$(readlink -f "${VMSANDBOX_IMAGE:-/var/lib/vmsandbox/images/default}")

it_expect help_command help_flag run_help run_help_rules json_refused_prints_nothing no_command unknown_command version \
    usage_no_image missing_image not_a_tar no_manifest missing_layer unsafe_layer tag_not_found tags_ambiguous \
    workspace_not_dir image_fifo error_text_safe memory_range memory_unparsable cpus_range cpus_tcg disk_range timeout_unparsable timeout_range \
    network_bad export_needs_out out_not_empty out_not_empty_untouched base_image_missing libvirt_down unknown_option \
    flag_overrides_env env_overrides_config config_overrides_default bad_input_leaves_nothing \
    doctor_fails doctor_ok \
    doctor_host vm_progress_plain vm_quiet vm_hello vm_out_files vm_phases_overlap vm_job_disk_boot vm_export_image vm_command_not_found vm_not_executable \
    vm_cancel_sigterm vm_cancel_untouched vm_cancel_out_whole vm_network_nat vm_log_cap \
    vm_dockerd_log_tail vm_exit_code vm_env_user vm_stderr vm_no_network vm_workspace_back vm_writeback_symlink vm_writeback_owner \
    vm_timeout vm_timeout_untouched \
    vm_limits_run vm_memory vm_cpus vm_disk vm_mount_at_workdir vm_env_long vm_user_uid vm_json vm_accel_flag \
    vm_preload vm_tag_not_preloaded vm_error_untouched vm_nothing_left \
    preload_usage preload_timeout_unparsable preload_timeout_range vm_oci_layout_runs vm_oci_layout_result vm_preload_timeout \
    vm_preload_timeout_nothing_left setup_host_ids_overlap setup_host_ids_ok

# ---- fixtures, built without any Docker engine ---------------------------
"$here/scripts/make-test-image" --out "$work/hello.tar"
"$here/scripts/make-test-image" --out "$work/two-tags.tar" --tag demo/a:1 --tag demo/b:2
echo "plain text, not an archive" > "$work/notatar.tar"
mkdir -p "$work/nm" && echo hi > "$work/nm/hello.txt" && tar -C "$work/nm" -cf "$work/nomanifest.tar" hello.txt
mkdir -p "$work/ml" && echo '[{"Config":"c.json","RepoTags":["x:1"],"Layers":["gone/layer.tar"]}]' > "$work/ml/manifest.json" \
    && echo '{}' > "$work/ml/c.json" && tar -C "$work/ml" -cf "$work/missinglayer.tar" manifest.json c.json
mkdir -p "$work/ev/l" && echo x > "$work/ev/f" && tar -C "$work/ev" -cf "$work/ev/l/layer.tar" --transform 's,^f$,../evil,' f \
    && echo '[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]' > "$work/ev/manifest.json" \
    && echo '{}' > "$work/ev/c.json" && tar -C "$work/ev" -cf "$work/evil.tar" manifest.json c.json l/layer.tar
touch "$work/afile"
# A workspace's state: names, types, modes, owners, sizes, mtimes and link targets.
snapshot() { (cd "$1" && find . -printf '%p %y %m %u:%g %s %T@ %l\n' | LC_ALL=C sort); }

# ---- no VM: help, version, bad input (exit 2, one clear line, nothing left)
expect help_command 0 "" -- "$vms" help
has_line "$work/help_command.out" '^Usage: vmsandbox COMMAND' || fail help_command "no usage on stdout: $(excerpt "$work/help_command.out")"
expect help_flag 0 "" -- "$vms" --help
cmp -s "$work/help_command.out" "$work/help_flag.out" || fail help_flag "--help differs from help"
expect run_help 0 "" -- "$vms" run --help
has_line "$work/run_help.out" '--image' || fail run_help "run --help lacks --image"
# run --help names the ranges, dockerd.log, the --out rule, the units and preload (issue 10)
missing_help=""
for needle in '256M-256G' '1-64' '256M-2T' '1s-7 days' 'dockerd.log (its last' 'must not exist or be empty' \
              'at most 200000 entries' 'twice the workspace' '(needs --out)' 'a number of bytes' 'a number of seconds' \
              'vmsandbox preload --help' 'nothing when the job is refused'; do
    grep -qF -- "$needle" "$work/run_help.out" || missing_help="$missing_help [$needle]"
done
check run_help_rules "run --help lacks$missing_help" [ -z "$missing_help" ]
"$vms" >/dev/null 2>"$work/no_command.err"; code=$?
if [ $code = 2 ] && has_line "$work/no_command.err" '^Usage: vmsandbox COMMAND'; then pass no_command
else fail no_command "exit $code: $(excerpt "$work/no_command.err")"; fi
expect unknown_command 2 'unknown command "frob"' -- "$vms" frob
expect version 0 "" -- "$vms" version
"$vms" --version > "$work/version2.out" 2>&1
if ! has_line "$work/version.out" '^vmsandbox [0-9]+\.[0-9]+\.[0-9]+' || ! cmp -s "$work/version.out" "$work/version2.out"; then
    fail version "version / --version: $(excerpt "$work/version.out") / $(excerpt "$work/version2.out")"
fi
expect usage_no_image 2 "--image FILE.tar is required" -- "$vms" run
expect missing_image 2 "cannot open image" -- "$vms" run --image "$work/nope.tar"
expect not_a_tar 2 "not a tar archive" -- "$vms" run --image "$work/notatar.tar"
expect no_manifest 2 "no manifest.json" -- "$vms" run --image "$work/nomanifest.tar"
expect missing_layer 2 "names layer gone/layer.tar, which is not in the archive" -- "$vms" run --image "$work/missinglayer.tar"
expect unsafe_layer 2 'unsafe entry "../evil"' -- "$vms" run --image "$work/evil.tar"
expect tag_not_found 2 "tag demo/c:3 is not in the image archive" -- "$vms" run --image "$work/two-tags.tar" --tag demo/c:3
expect tags_ambiguous 2 "choose one with --tag (demo/a:1, demo/b:2)" -- "$vms" run --image "$work/two-tags.tar"
expect workspace_not_dir 2 "is not a directory" -- "$vms" run --image "$work/hello.tar" --workspace "$work/afile"
mkfifo "$work/fifo.tar"
expect image_fifo 2 "is not a regular file" -- timeout 20 "$vms" run --image "$work/fifo.tar"
# Text quoted in an error (a file name here; a guest's message elsewhere)
# reaches the terminal without control characters.
expect error_text_safe 2 "/?]0;pwned?" -- "$vms" run --image "$work/$(printf '\033]0;pwned\007')"
if grep -q "$(printf '\033')" "$work/error_text_safe.err"; then fail error_text_safe "an ESC reached stderr"; fi
expect memory_range 2 "--memory must be between" -- "$vms" run --image "$work/hello.tar" --memory 1M
expect memory_unparsable 2 "--memory lots" -- "$vms" run --image "$work/hello.tar" --memory lots
expect cpus_range 2 "--cpus 0" -- "$vms" run --image "$work/hello.tar" --cpus 0
expect cpus_tcg 2 "--cpus 2 needs KVM" -- "$vms" run --image "$work/hello.tar" --cpus 2 --accel tcg
expect disk_range 2 "--disk must be between" -- "$vms" run --image "$work/hello.tar" --disk 10M
expect timeout_unparsable 2 "--timeout soon" -- "$vms" run --image "$work/hello.tar" --timeout soon
expect timeout_range 2 "--timeout must be between" -- "$vms" run --image "$work/hello.tar" --timeout 0s
expect network_bad 2 "--network host" -- "$vms" run --image "$work/hello.tar" --network host
expect export_needs_out 2 "--export-image needs --out" -- "$vms" run --image "$work/hello.tar" --export-image
# --json: a job refused before it started prints nothing on stdout (docs/cli.md)
expect json_refused_prints_nothing 2 "--export-image needs --out" -- "$vms" run --json --image "$work/hello.tar" --export-image &&
    { [ ! -s "$work/json_refused_prints_nothing.out" ] || fail json_refused_prints_nothing "stdout: $(excerpt "$work/json_refused_prints_nothing.out")"; }
mkdir -p "$work/out-full" && echo keep > "$work/out-full/mine.txt"
before=$(snapshot "$work/out-full")
expect out_not_empty 2 "exists and is not empty" -- "$vms" run --image "$work/hello.tar" --out "$work/out-full"
check out_not_empty_untouched "out-full changed: $(snapshot "$work/out-full")" [ "$(snapshot "$work/out-full")" = "$before" ]
expect base_image_missing 2 "build it with: scripts/build-base-image (as root, in the vmsandbox source tree)" -- \
    "$vms" run --image "$work/hello.tar" --base-image "$work/no-such-image"
expect libvirt_down 2 "start it with" -- \
    env VMSANDBOX_URI='qemu+unix:///system?socket=/nonexistent/sock' "$vms" run --image "$work/hello.tar"
expect unknown_option 2 "unknown option" -- "$vms" run --image "$work/hello.tar" --frobnicate
# Precedence (docs/cli.md): defaults < config file < environment < flags.  A
# missing base image names the directory that was chosen.
printf 'image = %s/from-config\n' "$work" > "$work/vmsandbox.conf"
expect flag_overrides_env 2 "$work/from-flag" -- env VMSANDBOX_CONFIG="$work/vmsandbox.conf" VMSANDBOX_IMAGE="$work/from-env" \
    "$vms" run --image "$work/hello.tar" --base-image "$work/from-flag"
expect env_overrides_config 2 "$work/from-env" -- env VMSANDBOX_CONFIG="$work/vmsandbox.conf" VMSANDBOX_IMAGE="$work/from-env" \
    "$vms" run --image "$work/hello.tar"
expect config_overrides_default 2 "$work/from-config" -- env -u VMSANDBOX_IMAGE VMSANDBOX_CONFIG="$work/vmsandbox.conf" \
    "$vms" run --image "$work/hello.tar"
# Every bad-input run above must have left nothing: no domain, no job dir, no
# staged output beside --out (.out-full.vmsandbox-*).
staged=$(find "$work" -maxdepth 1 -name '.*.vmsandbox-*')
if left=$(no_leftovers) && [ -z "$staged" ]; then pass bad_input_leaves_nothing
else fail bad_input_leaves_nothing "$left $staged"; fi

# ---- tests9: preload's flags without a VM -----------------------------------
preload_flag_checks() {
    expect preload_usage 2 "preload needs --root, --kernel, --initrd, --cmdline and archives" -- \
        "$vms" preload --root "$work/r.qcow2" "$work/hello.tar"
    expect preload_timeout_unparsable 2 "--timeout soon: expected a duration such as 30m" -- \
        "$vms" preload --root "$work/r.qcow2" --kernel k --initrd i --cmdline c --timeout soon "$work/hello.tar"
    # As run --timeout 0s: 0 used to mean no deadline at all.
    expect preload_timeout_range 2 "--timeout must be between 1s and 7 days" -- \
        "$vms" preload --root "$work/r.qcow2" --kernel k --initrd i --cmdline c --timeout 0s "$work/hello.tar"
}
preload_flag_checks

# ---- real VMs (and libguestfs appliances) ----------------------------------
vm_doctor() {
    # exit 1: libvirt unreachable and no base image (each check still runs)
    env VMSANDBOX_URI='qemu+unix:///system?socket=/nonexistent/sock' VMSANDBOX_IMAGE="$work/no-such-image" \
        "$vms" doctor >"$work/doctor1.out" 2>&1
    local code=$?
    if [ $code = 1 ] && has_line "$work/doctor1.out" 'some checks failed'; then pass doctor_fails
    else fail doctor_fails "exit $code: $(excerpt "$work/doctor1.out")"; fi
    "$vms" doctor >"$work/doctor0.out" 2>&1
    code=$?
    if [ $code = 0 ] && has_line "$work/doctor0.out" 'all checks passed'; then pass doctor_ok
    else fail doctor_ok "exit $code: $(excerpt "$work/doctor0.out" 600)"; fi
    check doctor_host "$(excerpt "$work/doctor0.out" 600)" has_line "$work/doctor0.out" "^ok +host +x86_64, Linux $(uname -r)\$"
}

vm_job_disk_boot() {   # job_disk = boot: the sequential way, the disk attached at boot after prepare
    local o=$work/o-seq code pe bs
    VMSANDBOX_JOB_DISK=boot "$vms" run --image "$work/hello.tar" --out "$o" -- echo sequential >"$work/seq.out" 2>"$work/seq.err"
    code=$?
    pe=$(jfield "$o/result.json" .phases.prepare.end_ms) bs=$(jfield "$o/result.json" .phases.boot.start_ms)
    if [ $code = 0 ] && has_line "$work/seq.out" '^sequential$' && [ -n "$pe" ] && [ -n "$bs" ] && [ "$bs" -ge "$pe" ] &&
       has_line "$work/seq.err" '^vmsandbox: \[ *[0-9]+\.[0-9]s\] boot$'; then pass vm_job_disk_boot
    else fail vm_job_disk_boot "exit $code, prepare end $pe, boot start $bs: $(excerpt "$work/seq.err")"; fi
}
vm_hello_export() {
    local o=$work/o1 code
    "$vms" run --image "$work/hello.tar" --out "$o" --export-image -- sh -c 'echo hello from vmsandbox; echo to-stderr >&2' \
        >"$work/hello.out" 2>"$work/hello.err"
    code=$?
    if [ $code != 0 ]; then fail vm_hello "exit $code: $(excerpt "$work/hello.err")"; fail vm_out_files "no run"; fail vm_export_image "no run"; return; fi
    if has_line "$work/hello.out" '^hello from vmsandbox$' && [ "$(jfield "$o/result.json" .status)" = success ] &&
       [ "$(jfield "$o/result.json" .exit_code)" = 0 ]; then pass vm_hello
    else fail vm_hello "output or result.json: $(excerpt "$work/hello.out") $(excerpt "$o/result.json")"; fi
    # --out: result.json, both logs, dockerd.log, workspace/ (no --workspace: none), image.tar; no staging dir left
    if has_line "$o/stdout.log" '^hello from vmsandbox$' && has_line "$o/stderr.log" '^to-stderr$' &&
       [ -s "$o/dockerd.log" ] && [ -s "$o/image.tar" ] && [ "$(jfield "$o/result.json" .exported_image)" = image.tar ] &&
       [ -z "$(find "$work" -maxdepth 1 -name '.o1.vmsandbox-*')" ]; then pass vm_out_files
    else fail vm_out_files "out: $(ls -A "$o" | tr '\n' ' ')"; fi
    # stderr is a file, not a terminal: one plain progress line per phase, no escapes.
    local ph missing=
    for ph in prepare 'boot \(alongside prepare\)' wait collect 'guest engine-ready' 'guest load' 'guest run'; do
        has_line "$work/hello.err" "^vmsandbox: \[ *[0-9]+\.[0-9]s\] $ph\$" || missing="$missing '$ph'"
    done
    if [ -z "$missing" ] && ! grep -q "$(printf '\033')" "$work/hello.err"; then pass vm_progress_plain
    else fail vm_progress_plain "missing:$missing, or an ESC: $(excerpt "$work/hello.err")"; fi
    # job_disk = hotplug (the default): boot starts while prepare runs and ends after it (the hot-plug).
    local ps pe bs be
    ps=$(jfield "$o/result.json" .phases.prepare.start_ms) pe=$(jfield "$o/result.json" .phases.prepare.end_ms)
    bs=$(jfield "$o/result.json" .phases.boot.start_ms) be=$(jfield "$o/result.json" .phases.boot.end_ms)
    if [ -n "$ps" ] && [ -n "$pe" ] && [ -n "$bs" ] && [ -n "$be" ] && [ "$bs" -ge "$ps" ] && [ "$bs" -lt "$pe" ] &&
       [ "$be" -ge "$pe" ]; then pass vm_phases_overlap
    else fail vm_phases_overlap "prepare $ps-$pe, boot $bs-$be"; fi
    # The exported image must be what `docker load` accepts: load it in a VM
    # (with --quiet: no progress lines).
    "$vms" run --quiet --image "$o/image.tar" -- sh -c 'echo reloaded; echo err-line >&2' >"$work/reload.out" 2>"$work/reload.err"
    code=$?
    if [ $code = 0 ] && has_line "$work/reload.out" '^reloaded$'; then pass vm_export_image
    else fail vm_export_image "exit $code: $(excerpt "$work/reload.err")"; fi
    check vm_quiet "stderr: $(excerpt "$work/reload.err")" [ "$(cat "$work/reload.err")" = err-line ]
}

vm_not_found() {
    expect vm_command_not_found 127 "" -- "$vms" run --image "$work/hello.tar" -- /no/such/program
    # a file that is not executable: Docker's 126
    expect vm_not_executable 126 "" -- "$vms" run --image "$work/hello.tar" -- /etc/passwd
}

vm_cancel() {
    local ws=$work/ws-cancel o=$work/o-cancel before pid code
    mkdir -p "$ws" && echo original > "$ws/f.txt"
    before=$(snapshot "$ws")
    "$vms" run --image "$work/hello.tar" --workspace "$ws" --out "$o" -- sh -c 'echo changed > /erc/f.txt; echo running; sleep 600' \
        >"$work/cancel.out" 2>"$work/cancel.err" &
    pid=$!
    # SIGTERM once the workflow runs (its first line arrived), not before.
    if ! wait_for 300 has_line "$work/cancel.out" '^running$'; then
        kill -KILL $pid; wait $pid
        fail vm_cancel_sigterm "the workflow never started: $(excerpt "$work/cancel.err")"
        fail vm_cancel_untouched "no run"; fail vm_cancel_out_whole "no run"; return
    fi
    kill -TERM $pid
    wait $pid
    code=$?
    check vm_cancel_sigterm "exit $code, wanted 130: $(excerpt "$work/cancel.err")" [ $code = 130 ]
    check vm_cancel_untouched "workspace changed: $(snapshot "$ws")" [ "$(snapshot "$ws")" = "$before" ]
    # --out appears whole (with result.json saying cancelled) or not at all; no staging dir remains
    if [ -z "$(find "$work" -maxdepth 1 -name '.o-cancel.vmsandbox-*')" ] &&
       { [ ! -e "$o" ] || [ "$(jfield "$o/result.json" .status)" = cancelled ]; }; then pass vm_cancel_out_whole
    else fail vm_cancel_out_whole "$(ls -A "$work" | tr '\n' ' ') $(excerpt "$o/result.json")"; fi
}

# --network nat: the container gets a default route through the engine's
# bridge.  The same VM floods stdout past the 64 MiB cap of stdout.log.
vm_network_nat() {
    local o=$work/o-nat size code
    "$vms" run --image "$work/hello.tar" --network nat --out "$o" -- sh -c 'grep -c "^eth0\s00000000" /proc/net/route;
        busybox head -c 68000000 /dev/zero | busybox tr "\0" x; echo; echo after-cap' \
        >"$work/nat.out" 2>"$work/nat.err"
    code=$?
    if [ $code = 0 ] && [ "$(head -n 1 "$work/nat.out")" = 1 ]; then pass vm_network_nat
    else fail vm_network_nat "exit $code: $(head -c 100 "$work/nat.out") $(excerpt "$work/nat.err")"; fi
    size=$(stat -c %s "$o/stdout.log" 2>/dev/null)
    if [ "${size:-0}" -ge $((64 << 20)) ] && [ "${size:-0}" -le $(((64 << 20) + 256)) ] &&
       [ "$(tail -n 1 "$o/stdout.log")" != after-cap ] && has_line "$o/stdout.log" 'truncated' &&
       ! has_line "$o/stdout.log" '^after-cap$'; then pass vm_log_cap
    else fail vm_log_cap "stdout.log ${size:-missing} bytes, ends: $(tail -c 100 "$o/stdout.log" 2>&1)"; fi
    rm -f "$work/nat.out" "$o/stdout.log"
}

vm_workspace() {
    local ws=$work/ws code
    mkdir -p "$ws/sub" && echo hello > "$ws/a.txt" && echo bye > "$ws/del.txt" && echo b > "$ws/sub/b.txt"
    chown -R 1234:1235 "$ws"
    "$vms" run --image "$work/hello.tar" --workspace "$ws" -e GREETING=hi --user 1000:1000 -- \
        sh -c 'echo "greeting=$GREETING uid=$(id -u) gid=$(id -g)"; echo "routes=$(wc -l < /proc/net/route)";
               cat /erc/a.txt; echo made > /erc/new.txt; busybox ln -s a.txt /erc/link.txt;
               echo changed > /erc/sub/b.txt; rm /erc/del.txt; echo to-stderr >&2; exit 3' \
        >"$work/ws.out" 2>"$work/ws.err"
    code=$?
    check vm_exit_code "exit $code, wanted 3: $(excerpt "$work/ws.err")" [ $code = 3 ]
    check vm_env_user "$(excerpt "$work/ws.out")" has_line "$work/ws.out" '^greeting=hi uid=1000 gid=1000$'
    check vm_stderr "stderr not streamed: $(excerpt "$work/ws.err")" has_line "$work/ws.err" '^to-stderr$'
    # --network none: no route at all, only the header line of /proc/net/route
    check vm_no_network "$(excerpt "$work/ws.out")" has_line "$work/ws.out" '^routes=1$'
    if [ "$(cat "$ws/new.txt" 2>/dev/null)" = made ] && [ "$(cat "$ws/sub/b.txt")" = changed ] &&
       [ ! -e "$ws/del.txt" ] && [ "$(cat "$ws/a.txt")" = hello ]; then pass vm_workspace_back
    else fail vm_workspace_back "workspace: $(snapshot "$ws")"; fi
    # symlinks come back as symlinks (not followed, not copied as files)
    if [ -L "$ws/link.txt" ] && [ "$(readlink "$ws/link.txt")" = a.txt ]; then pass vm_writeback_symlink
    else fail vm_writeback_symlink "link.txt: $(ls -l "$ws/link.txt" 2>&1)"; fi
    # new entries get the directory's owner, not the guest's uid 1000
    check vm_writeback_owner "new.txt is $(stat -c %u:%g "$ws/new.txt" 2>&1)" [ "$(stat -c %u:%g "$ws/new.txt" 2>/dev/null)" = 1234:1235 ]
}

vm_timeout() {
    local o=$work/o-timeout ws=$work/ws-timeout before code
    mkdir -p "$ws" && echo original > "$ws/f.txt"
    before=$(snapshot "$ws")
    "$vms" run --image "$work/hello.tar" --workspace "$ws" --timeout 45s --out "$o" -- \
        sh -c 'echo changed > /erc/f.txt; rm -f /erc/f.txt; sleep 600' >"$work/to.out" 2>"$work/to.err"
    code=$?
    if [ $code = 124 ] && [ "$(jfield "$o/result.json" .status)" = timeout ] && [ "$(jq -r .exit_code "$o/result.json")" = null ]
    then pass vm_timeout; else fail vm_timeout "exit $code, wanted 124: $(excerpt "$work/to.err") $(excerpt "$o/result.json")"; fi
    check vm_timeout_untouched "workspace changed: $(snapshot "$ws")" [ "$(snapshot "$ws")" = "$before" ]
}

# One VM checks that the guest gets what the flags ask for: memory, CPUs, disk,
# mount point, working directory, a long environment value, the user, --json,
# --accel overriding $VMSANDBOX_ACCEL, and an existing empty --out.
vm_limits() {
    local o=$work/o-limits ws=$work/ws-limits long code root_mib mem rootkb
    mkdir -p "$ws" "$o" && echo seen > "$ws/marker"
    long=$(printf 'v%.0s' $(seq 5000))
    VMSANDBOX_ACCEL=kvm "$vms" run --image "$work/hello.tar" --memory 700M --cpus 1 --disk 2G --accel tcg \
        --mount-at /data --workdir /data/sub --env "LONG=$long" -e SHORT=s --user 1000 --json \
        --workspace "$ws" --out "$o" -- sh -c '
            echo "mem=$(busybox awk "/^MemTotal:/ { print \$2 }" /proc/meminfo)"
            echo "cpus=$(busybox nproc)"
            echo "rootkb=$(busybox df -Pk / | busybox awk "NR == 2 { print \$2 }")"
            echo "cwd=$(pwd)"; echo "longlen=${#LONG}"; echo "short=$SHORT"; echo "uid=$(id -u)"
            echo "marker=$(cat /data/marker)"' >"$work/limits.json" 2>"$work/limits.err"
    code=$?
    if [ $code != 0 ]; then
        fail vm_limits_run "exit $code: $(excerpt "$work/limits.err")"
        for t in vm_memory vm_cpus vm_disk vm_mount_at_workdir vm_env_long vm_user_uid vm_json vm_accel_flag; do fail $t "no run"; done
        return
    fi
    pass vm_limits_run
    # --json: the record on stdout, the workflow's stdout on stderr
    local e=$work/limits.err j=$work/limits.json
    mem=$(sed -n 's/^mem=//p' "$e"); rootkb=$(sed -n 's/^rootkb=//p' "$e")
    # MemTotal is the VM's RAM less what the kernel keeps: within 700M, well above 512M
    check vm_memory "MemTotal ${mem:-?} kB for --memory 700M" [ "${mem:-0}" -gt $((560 * 1024)) -a "${mem:-0}" -le $((700 * 1024)) ]
    check vm_cpus "$(excerpt "$e")" [ "$(sed -n 's/^cpus=//p' "$e")" = 1 -a "$(jfield "$j" .limits.cpus)" = 1 ]
    # The root filesystem grows by --disk: base image size + 2 GiB (a default
    # 4 GiB run would be 2 GiB bigger).
    root_mib=$(jq -r .root_fs_mib "$base_image/manifest.json" 2>/dev/null)
    check vm_disk "root fs ${rootkb:-?} kB, base ${root_mib:-?} MiB, limits $(jfield "$j" .limits.disk_bytes)" \
        [ "$(jfield "$j" .limits.disk_bytes)" = $((2 << 30)) -a "${rootkb:-0}" -gt $(( (${root_mib:-0} + 1024) * 1024 )) \
          -a "${rootkb:-0}" -lt $(( (${root_mib:-0} + 3072) * 1024 )) ]
    check vm_mount_at_workdir "$(excerpt "$e")" has_line "$e" '^cwd=/data/sub$'
    has_line "$e" '^marker=seen$' || fail vm_mount_at_workdir "workspace not at /data: $(excerpt "$e")"
    check vm_env_long "$(grep -E '^(longlen|short)=' "$e")" [ "$(sed -n 's/^longlen=//p' "$e")" = 5000 -a "$(sed -n 's/^short=//p' "$e")" = s ]
    check vm_user_uid "$(grep '^uid=' "$e")" has_line "$e" '^uid=1000$'
    if [ "$(jfield "$j" .status)" = success ] && [ "$(jfield "$j" .limits.memory_bytes)" = $((700 << 20)) ] &&
       [ "$(jfield "$j" .command.mount_at)" = /data ] && [ "$(jfield "$j" .command.workdir)" = /data/sub ] &&
       [ "$(jfield "$j" .command.user)" = 1000 ] && [ "$(jq -c .command.env_names "$j")" = '["LONG","SHORT"]' ] &&
       ! grep -q "$long" "$j" && ! has_line "$j" '^mem=' && [ "$(jfield "$j" .job_id)" = "$(jfield "$o/result.json" .job_id)" ] &&
       has_line "$o/stdout.log" '^cwd=/data/sub$' && [ -f "$o/workspace/marker" ]
    then pass vm_json; else fail vm_json "$(excerpt "$j" 500)"; fi
    if [ "$(jfield "$j" .limits.accel)" = tcg ] && [ "$(jfield "$j" .limits.accel_reason)" = "tcg was asked for" ]; then pass vm_accel_flag
    else fail vm_accel_flag "accel $(jfield "$j" .limits.accel): $(jfield "$j" .limits.accel_reason)"; fi
}

# Preloading: bake an image into a copy of the base image, then run it by tag
# with no archive injected.
vm_preload() {
    local base=$work/base mib code ws=$work/ws-err before
    cp -a --sparse=always "$base_image" "$base"
    mib=$(( $(jq -r .root_fs_mib "$base/manifest.json") + 512 ))
    qemu-img resize -q -f qcow2 "$base/root.qcow2" "${mib}M"
    jq ".root_fs_mib = $mib" "$base/manifest.json" > "$work/manifest.new" && mv "$work/manifest.new" "$base/manifest.json"
    "$here/scripts/make-test-image" --out "$work/pre.tar" --tag vmsandbox-test/pre:1 \
        --cmd '["/bin/sh","-c","echo i was preloaded"]'
    if ! "$vms" preload --root "$base/root.qcow2" --kernel "$base/vmlinuz" --initrd "$base/initrd.img" \
        --cmdline "$(jq -r .cmdline "$base/manifest.json")" "$work/pre.tar" >"$work/preload.out" 2>"$work/preload.err"; then
        fail vm_preload "preload failed: $(excerpt "$work/preload.err")"
    else
        "$vms" run --base-image "$base" --tag vmsandbox-test/pre:1 >"$work/pre.out" 2>"$work/pre.err"
        code=$?
        if [ $code = 0 ] && has_line "$work/pre.out" '^i was preloaded$'; then pass vm_preload
        else fail vm_preload "exit $code: $(excerpt "$work/pre.err")"; fi
    fi
    # A sandbox error (exit 125) leaves the workspace untouched.
    mkdir -p "$ws" && echo original > "$ws/f.txt"
    before=$(snapshot "$ws")
    "$vms" run --base-image "$base" --tag vmsandbox-test/absent:1 --workspace "$ws" >/dev/null 2>"$work/absent.err"
    code=$?
    if [ $code = 125 ] && has_line "$work/absent.err" "neither in the archive nor preloaded"; then pass vm_tag_not_preloaded
    else fail vm_tag_not_preloaded "exit $code: $(excerpt "$work/absent.err")"; fi
    check vm_error_untouched "workspace changed: $(snapshot "$ws")" [ "$(snapshot "$ws")" = "$before" ]
}

# tests9: a real OCI layout (tests/fixtures/oci-layout-gzip.tar: skopeo's
# layout with a gzip layer, and the manifest.json Docker >= 25 writes) runs in
# the guest's Docker 20.10 with the image's own command; the engine's image id
# is the config digest the host computed.
vm_oci_layout() {
    local o=$work/o-oci fx=$here/tests/fixtures/oci-layout-gzip.tar code r
    "$vms" run --image "$fx" --out "$o" >"$work/oci.out" 2>"$work/oci.err"
    code=$?
    if [ $code = 0 ] && [ "$(cat "$work/oci.out")" = "hello from a fixture image" ]; then pass vm_oci_layout_runs
    else fail vm_oci_layout_runs "exit $code: $(excerpt "$work/oci.out") $(excerpt "$work/oci.err")"; fi
    r=$o/result.json
    if [ "$(jfield "$r" .status)" = success ] && [ "$(jfield "$r" .image.ref)" = vmsandbox-fixture/hello:oci-gzip ] &&
       [ "$(jfield "$r" .image.id)" = sha256:72cbb8094008ea35d34f9daf7b9cd7c0246cbffe6dec846e6e7bb26f90536139 ] &&
       [ "$(jfield "$r" .guest.image_id)" = "$(jfield "$r" .image.id)" ] &&
       [ "$(jfield "$r" .image.archive_sha256)" = "$(sha256sum < "$fx" | cut -d' ' -f1)" ] &&
       [[ "$(jfield "$r" .guest.docker_version)" == 20.10.* ]]
    then pass vm_oci_layout_result
    else fail vm_oci_layout_result "$(jq -c '{status, image, guest: {image_id: .guest.image_id, docker_version: .guest.docker_version}}' "$r" 2>&1)"; fi
}

# tests9: preload --timeout: the VM is destroyed when it runs out (exit 124,
# "preloading timed out"), long before a load could end, and nothing of the
# attempt is left (its own state dir: the other group's jobs run meanwhile).
vm_preload_timeout() {
    local root=$work/pt-root.qcow2 st=$work/state-pt t0 secs code doms
    mkdir -p "$st" && chmod 0711 "$st"
    qemu-img create -q -f qcow2 -b "$base_image/root.qcow2" -F qcow2 "$root"
    t0=$(date +%s)
    VMSANDBOX_STATE_DIR=$st "$vms" preload --root "$root" --kernel "$base_image/vmlinuz" --initrd "$base_image/initrd.img" \
        --cmdline "$(jq -r .cmdline "$base_image/manifest.json")" --timeout 2s "$work/hello.tar" >"$work/pt.out" 2>"$work/pt.err"
    code=$?
    secs=$(( $(date +%s) - t0 ))
    if [ $code = 124 ] && has_line "$work/pt.err" 'preloading timed out' && [ $secs -lt 240 ]; then pass vm_preload_timeout
    else fail vm_preload_timeout "exit $code after $secs s: $(excerpt "$work/pt.err")"; fi
    doms=$(virsh -c qemu:///system list --all --name 2>"$work/virsh-pt.err") || { fail vm_preload_timeout_nothing_left "virsh failed: $(excerpt "$work/virsh-pt.err")"; return; }
    for d in $doms; do
        virsh -c qemu:///system dumpxml "$d" > "$work/dom-pt.xml" 2>/dev/null || continue
        grep -qF -- "$st/" "$work/dom-pt.xml" && { fail vm_preload_timeout_nothing_left "domain $d is left"; return; }
    done
    check vm_preload_timeout_nothing_left "left: $(ls -A "$st/jobs" 2>&1 | tr '\n' ' ')" \
        [ -d "$st/jobs" -a -z "$(ls -A "$st/jobs" 2>/dev/null)" ]
}

# A dockerd.log over its 8 MiB cap does not fail the job: collect keeps its
# last 8 MiB after a one-line note, through the real libguestfs child (a job
# disk made here, raw ext4 as the job's; no VM, one appliance).
vm_dockerd_log_tail() {
    local d=$work/logtail got
    mkdir -m 0711 "$d" && mkdir -p "$d/tree/out"
    seq 1 1200000 > "$d/tree/out/dockerd.log"           # 8488896 bytes
    mkfs.ext4 -q -d "$d/tree" "$d/disk.img" 32M >"$d/mkfs.err" 2>&1 && chmod 0600 "$d/disk.img" ||
        { fail vm_dockerd_log_tail "mkfs.ext4: $(excerpt "$d/mkfs.err")"; return; }
    got=$("$build/collect-tail" "$d/disk.img" "$d/got.log" $((8 << 20)) 2>"$d/err")
    tail -c $((8 << 20)) "$d/tree/out/dockerd.log" > "$d/want.tail"
    tail -n +2 "$d/got.log" > "$d/got.tail" 2>/dev/null
    if [ "$got" = 8488896 ] && [ "$(head -n 1 "$d/got.log")" = "[vmsandbox: the guest's log was 8488896 bytes; its last 8388608 follow]" ] &&
       cmp -s "$d/got.tail" "$d/want.tail"; then pass vm_dockerd_log_tail
    else fail vm_dockerd_log_tail "size '$got': $(excerpt "$d/err") $(head -c 100 "$d/got.log" 2>&1)"; fi
    rm -rf "$d"
}
# setup-host refuses subordinate ids that overlap the appliance uids' range,
# as the library does at run time (its --check-ids needs no root, installs nothing).
printf 'alice:100000:65536\nbob:2099999990:11\n' > "$work/subuid-bad"
printf 'alice:100000:65536\ndave:2100000256:100\n' > "$work/subuid-ok"
expect setup_host_ids_overlap 1 "gives ids 2099999990-2100000000 (to bob), which overlap vmsandbox's range 2100000000-2100000255: move them" \
    -- "$here/scripts/setup-host" --check-ids "$work/subuid-ok" "$work/subuid-bad"
expect setup_host_ids_ok 0 "" -- "$here/scripts/setup-host" --check-ids "$work/subuid-ok"

# IT_NO_VM=1: only the checks above (for working on them; the VM tests then count as failed).
[ -n "${IT_NO_VM:-}" ] && { it_summary; exit; }
( vm_hello_export; vm_not_found; vm_cancel; vm_network_nat; vm_doctor; vm_dockerd_log_tail; vm_oci_layout; vm_job_disk_boot ) &
g1=$!
( vm_workspace; vm_timeout; vm_limits; vm_preload; vm_preload_timeout ) &
g2=$!
wait $g1 $g2
if left=$(no_leftovers); then pass vm_nothing_left; else fail vm_nothing_left "$left"; fi

it_summary
