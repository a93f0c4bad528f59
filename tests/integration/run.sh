#!/bin/bash
# Integration tests: the real vmsandbox binary against real libvirtd,
# libguestfs and TCG/KVM guests.  Bad-input tests run first (no VM); the VM
# tests run in two parallel groups (this machine class has 2 cores).
#   tests/integration/run.sh [BUILD_DIR]
set -uo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
vms=$build/vmsandbox
work=$(mktemp -d /tmp/vmsandbox-it-XXXXXX)
chmod 0711 "$work"   # qemu (libvirt-qemu) reaches the preload test's base image below it
results=$work/results
mkdir -p "$results"
state=${VMSANDBOX_STATE_DIR:-/var/lib/vmsandbox}

pass() { echo "ok - $1"; echo ok > "$results/$1"; }
fail() { echo "FAIL - $1: $2"; echo "$2" > "$results/$1"; }

# expect NAME WANT_EXIT NEEDLE -- CMD...: exit status and a line of stderr.
expect() {
    local name=$1 want=$2 needle=$3; shift 4
    local err=$work/$name.err code
    "$@" >"$work/$name.out" 2>"$err"; code=$?
    if [ "$code" != "$want" ]; then fail "$name" "exit $code, wanted $want: $(head -c 300 "$err")"; return; fi
    if ! grep -qF -- "$needle" "$err"; then fail "$name" "stderr lacks '$needle': $(head -c 300 "$err")"; return; fi
    if [ "$(wc -l < "$err")" -gt 3 ]; then fail "$name" "error is not short: $(head -c 300 "$err")"; return; fi
    pass "$name"
}

no_leftovers() {
    local doms jobs
    doms=$(virsh -c qemu:///system list --all --name 2>/dev/null | grep -c '^vmsandbox-')
    jobs=$(find "$state/jobs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ "$doms" = 0 ] && [ "$jobs" = 0 ] || { echo "$doms domain(s), $jobs job dir(s) left"; return 1; }
}

json_field() { grep -o "\"$2\": *[^,}]*" "$1" | head -1 | sed 's/^[^:]*: *//; s/"//g'; }

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

# ---- bad input: exit 2, one clear line, nothing left behind --------------
expect usage_no_image 2 "--image FILE.tar is required" -- "$vms" run
expect missing_image 2 "cannot open image" -- "$vms" run --image "$work/nope.tar"
expect not_a_tar 2 "not a tar archive" -- "$vms" run --image "$work/notatar.tar"
expect no_manifest 2 "no manifest.json" -- "$vms" run --image "$work/nomanifest.tar"
expect missing_layer 2 "names layer gone/layer.tar, which is not in the archive" -- "$vms" run --image "$work/missinglayer.tar"
expect unsafe_layer 2 'unsafe entry "../evil"' -- "$vms" run --image "$work/evil.tar"
expect tag_not_found 2 "tag demo/c:3 is not in the image archive" -- "$vms" run --image "$work/two-tags.tar" --tag demo/c:3
expect tags_ambiguous 2 "choose one with --tag (demo/a:1, demo/b:2)" -- "$vms" run --image "$work/two-tags.tar"
expect workspace_not_dir 2 "is not a directory" -- "$vms" run --image "$work/hello.tar" --workspace "$work/afile"
expect memory_range 2 "--memory must be between" -- "$vms" run --image "$work/hello.tar" --memory 1M
expect memory_unparsable 2 "--memory lots" -- "$vms" run --image "$work/hello.tar" --memory lots
expect cpus_range 2 "--cpus 0" -- "$vms" run --image "$work/hello.tar" --cpus 0
expect disk_range 2 "--disk must be between" -- "$vms" run --image "$work/hello.tar" --disk 10M
expect timeout_unparsable 2 "--timeout soon" -- "$vms" run --image "$work/hello.tar" --timeout soon
expect timeout_range 2 "--timeout must be between" -- "$vms" run --image "$work/hello.tar" --timeout 0s
expect network_bad 2 "--network host" -- "$vms" run --image "$work/hello.tar" --network host
expect export_needs_out 2 "--export-image needs --out" -- "$vms" run --image "$work/hello.tar" --export-image
expect base_image_missing 2 "build it with: sudo scripts/build-base-image" -- \
    "$vms" run --image "$work/hello.tar" --base-image "$work/no-such-image"
expect libvirt_down 2 "start it with" -- \
    env VMSANDBOX_URI='qemu+unix:///system?socket=/nonexistent/sock' "$vms" run --image "$work/hello.tar"
expect unknown_option 2 "unknown option" -- "$vms" run --image "$work/hello.tar" --frobnicate
if no_leftovers >/dev/null && [ ! -e "$work/out-bad" ]; then pass bad_input_leaves_nothing; else fail bad_input_leaves_nothing "$(no_leftovers)"; fi

# ---- real VMs -------------------------------------------------------------
vm_hello_export() {
    local o=$work/o1
    "$vms" run --image "$work/hello.tar" --out "$o" --export-image >"$work/hello.out" 2>"$work/hello.err"
    local code=$?
    if [ $code != 0 ]; then fail vm_hello "exit $code: $(tail -c 400 "$work/hello.err")"; return; fi
    grep -q "hello from vmsandbox" "$work/hello.out" || { fail vm_hello "no output"; return; }
    [ "$(json_field "$o/result.json" status)" = success ] || { fail vm_hello "status not success"; return; }
    grep -q "hello from vmsandbox" "$o/stdout.log" || { fail vm_hello "stdout.log lacks output"; return; }
    pass vm_hello
    [ -s "$o/image.tar" ] || { fail vm_export_image "no image.tar"; return; }
    # The exported image must be what `docker load` accepts: load it in a VM.
    "$vms" run --image "$o/image.tar" -- echo reloaded >"$work/reload.out" 2>"$work/reload.err"
    code=$?
    if [ $code = 0 ] && grep -q reloaded "$work/reload.out"; then pass vm_export_image
    else fail vm_export_image "exit $code: $(tail -c 400 "$work/reload.err")"; fi
}

vm_not_found() {
    "$vms" run --image "$work/hello.tar" -- /no/such/program >"$work/nf.out" 2>"$work/nf.err"
    local code=$?
    if [ $code = 127 ]; then pass vm_command_not_found; else fail vm_command_not_found "exit $code, wanted 127: $(tail -c 300 "$work/nf.err")"; fi
}

vm_workspace() {
    local ws=$work/ws
    mkdir -p "$ws/sub" && echo hello > "$ws/a.txt" && echo bye > "$ws/del.txt" && echo b > "$ws/sub/b.txt"
    "$vms" run --image "$work/hello.tar" --workspace "$ws" -e GREETING=hi --user 1000:1000 -- \
        sh -c 'echo "greeting=$GREETING uid=$(id -u) gid=$(id -g)"; echo "routes=$(wc -l < /proc/net/route)";
               cat /erc/a.txt; echo made > /erc/new.txt;
               echo changed > /erc/sub/b.txt; rm /erc/del.txt; echo to-stderr >&2; exit 3' \
        >"$work/ws.out" 2>"$work/ws.err"
    local code=$?
    [ $code = 3 ] && pass vm_exit_code || fail vm_exit_code "exit $code, wanted 3: $(tail -c 300 "$work/ws.err")"
    grep -q "greeting=hi uid=1000 gid=1000" "$work/ws.out" && pass vm_env_user || fail vm_env_user "$(cat "$work/ws.out")"
    grep -q "to-stderr" "$work/ws.err" && pass vm_stderr || fail vm_stderr "stderr not streamed"
    # --network none: no route at all, only the header line of /proc/net/route
    grep -q "^routes=1$" "$work/ws.out" && pass vm_no_network || fail vm_no_network "$(grep routes "$work/ws.out")"
    if [ "$(cat "$ws/new.txt" 2>/dev/null)" = made ] && [ "$(cat "$ws/sub/b.txt")" = changed ] &&
       [ ! -e "$ws/del.txt" ] && [ "$(cat "$ws/a.txt")" = hello ]; then pass vm_workspace_back
    else fail vm_workspace_back "workspace: $(cd "$ws" && find . | tr '\n' ' ')"; fi
}

vm_timeout() {
    local o=$work/o-timeout
    "$vms" run --image "$work/hello.tar" --timeout 45s --out "$o" -- sleep 600 >"$work/to.out" 2>"$work/to.err"
    local code=$?
    [ $code = 124 ] || { fail vm_timeout "exit $code, wanted 124: $(tail -c 300 "$work/to.err")"; return; }
    [ "$(json_field "$o/result.json" status)" = timeout ] || { fail vm_timeout "status not timeout"; return; }
    pass vm_timeout
}

vm_cancel() {
    "$vms" run --image "$work/hello.tar" -- sh -c 'echo running; sleep 600' >"$work/cancel.out" 2>"$work/cancel.err" &
    local pid=$!
    # Interrupt once the workflow runs (the guest reported its run phase).
    for _ in $(seq 240); do grep -q running "$work/cancel.out" 2>/dev/null && break; sleep 1; done
    kill -INT $pid
    wait $pid
    local code=$?
    if [ $code = 130 ]; then pass vm_cancel; else fail vm_cancel "exit $code, wanted 130: $(tail -c 300 "$work/cancel.err")"; fi
}

# Preloading: bake an image into a copy of the base image, then run it by tag
# with no archive injected.
vm_preload() {
    local base=$work/base img
    img=$(readlink -f "${VMSANDBOX_IMAGE:-$state/images/default}")
    cp -a --sparse=always "$img" "$base"
    local mib; mib=$(( $(grep -o '"root_fs_mib": *[0-9]*' "$base/manifest.json" | grep -o '[0-9]*$') + 512 ))
    qemu-img resize -q -f qcow2 "$base/root.qcow2" "${mib}M"
    sed -i "s/\"root_fs_mib\": *[0-9]*/\"root_fs_mib\": $mib/" "$base/manifest.json"
    "$here/scripts/make-test-image" --out "$work/pre.tar" --tag vmsandbox-test/pre:1 \
        --cmd '["/bin/sh","-c","echo i was preloaded"]'
    if ! "$vms" preload --root "$base/root.qcow2" --kernel "$base/vmlinuz" --initrd "$base/initrd.img" \
        --cmdline "$(sed -n 's/.*"cmdline": *"\([^"]*\)".*/\1/p' "$base/manifest.json")" "$work/pre.tar" \
        >"$work/preload.out" 2>"$work/preload.err"; then
        fail vm_preload "preload failed: $(tail -c 300 "$work/preload.err")"; return
    fi
    "$vms" run --base-image "$base" --tag vmsandbox-test/pre:1 >"$work/pre.out" 2>"$work/pre.err"
    local code=$?
    if [ $code = 0 ] && grep -q "i was preloaded" "$work/pre.out"; then pass vm_preload
    else fail vm_preload "exit $code: $(tail -c 300 "$work/pre.err")"; fi
    "$vms" run --base-image "$base" --tag vmsandbox-test/absent:1 >/dev/null 2>"$work/absent.err"
    code=$?
    if [ $code = 125 ] && grep -q "neither in the archive nor preloaded" "$work/absent.err"; then pass vm_tag_not_preloaded
    else fail vm_tag_not_preloaded "exit $code: $(tail -c 300 "$work/absent.err")"; fi
}

# --network nat: the container gets a default route through the engine's bridge.
vm_network_nat() {
    "$vms" run --image "$work/hello.tar" --network nat -- sh -c 'grep -c "^eth0\s00000000" /proc/net/route' \
        >"$work/nat.out" 2>"$work/nat.err"
    local code=$?
    if [ $code = 0 ] && [ "$(cat "$work/nat.out")" = 1 ]; then pass vm_network_nat
    else fail vm_network_nat "exit $code: $(cat "$work/nat.out") $(tail -c 300 "$work/nat.err")"; fi
}

( vm_hello_export; vm_not_found; vm_cancel; vm_network_nat ) &
( vm_workspace; vm_timeout; vm_preload ) &
wait
if left=$(no_leftovers); then pass vm_nothing_left; else fail vm_nothing_left "$left"; fi

passed=$(grep -lx ok "$results"/* | wc -l)
total=$(ls "$results" | wc -l)
failed=$((total - passed))
[ $failed = 0 ] && rm -rf "$work" || echo "kept $work for inspection"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
