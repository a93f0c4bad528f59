#!/bin/bash
# Integration tests of the Docker-compatible socket (docs/docker-api.md) with
# real clients that vmsandbox did not write — the docker CLI, dockerode as
# o2r-muncher uses it (tests/clients/muncher.js), docker-py
# (tests/clients/dockerpy.py) — against `vmsandbox serve --docker-socket`,
# real libvirtd, libguestfs and guests.  No host Docker daemon is involved.
# The checks that need no VM come first; every VM run covers several checks.
#   tests/integration/docker.sh [BUILD_DIR]      (run it under the VM lock)
. "$(dirname "$0")/lib.sh"
it_init docker "$(cd "${1:-$(dirname "$0")/../../build}" && pwd)"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
docker_cli=${VS_DOCKER_CLI:-/usr/local/bin/docker}
[ -x "$docker_cli" ] || { echo "no docker CLI at $docker_cli (set VS_DOCKER_CLI)"; exit 2; }
sock_a=$work/a.sock
sock_b=$work/b.sock
export DOCKER_CONFIG=$work/docker-config DOCKER_CLI_HINTS=false

it_expect socket_mode cli_version cli_load cli_images cli_inspect tenant_images_apart \
    unknown_route bad_json bind_outside_roots bind_tenant_without_root image_name_dotdot attach_missing create_missing_image \
    tenant_containers_apart cli_rm_created \
    cli_run_exit_code cli_run_stdout cli_run_stderr cli_run_env_user_workdir cli_run_write_back cli_run_removed \
    cli_binds_ro_refused cli_binds_rw_back cli_binds_ro_kept cli_tty_hostname \
    cli_run_detached cli_logs_follow cli_wait cli_logs_streams cli_ps cli_rm_f \
    build_not_a_tar build_missing_from cli_build cli_build_stored \
    cli_save cli_rmi \
    dockerode_ping dockerode_version dockerode_load dockerode_inspect dockerode_tag dockerode_run \
    dockerode_autoremove dockerode_build dockerode_save dockerode_remove_image \
    dockerpy_version dockerpy_load dockerpy_run_remove dockerpy_run_error dockerpy_removed \
    nothing_left

# dk SOCKET ARGS...: the docker CLI on one tenant's socket.
dk() { local s=$1; shift; DOCKER_HOST=unix://$s "$docker_cli" "$@"; }
# dcurl SOCKET METHOD PATH [curl args]: body to $work/body, prints the status.
dcurl() {
    local s=$1 m=$2 p=$3; shift 3
    curl -s --max-time 60 --unix-socket "$s" -o "$work/body" -w '%{http_code}' -X "$m" "$@" "http://docker$p"
}
message_has() { [ "$(jfield "$work/body" .message)" != "" ] && grep -qF -- "$1" "$work/body"; }

start_server() {
    "$vms" serve --docker-socket "$sock_a:a:$work/allowed" --docker-socket "$sock_b:b" --max-jobs 1 --memory-budget 4G \
        --allow-root "$work/allowed" --state-dir "$state" --max-upload 64M --grace 5s 2>>"$work/server.log" &
    server=$!
    trap 'kill "$server" 2>/dev/null' EXIT   # a suite that dies leaves no server behind
    wait_for 30 docker_up || { echo "server did not start: $(excerpt "$work/server.log" 600)"; exit 2; }
}
docker_up() {
    kill -0 "$server" 2>/dev/null || return 1
    [ "$(curl -s --max-time 5 --unix-socket "$sock_a" http://docker/_ping 2>/dev/null)" = OK ]
}

mkdir -p "$work/allowed/ws" "$work/allowed/payload" "$work/outside" "$work/allowed/ro" "$work/allowed/rw"
"$here/scripts/make-test-image" --out "$work/hello.tar"
echo "from the host" > "$work/allowed/payload/in.txt"
echo keep > "$work/allowed/ws/keep.txt"
echo "read only" > "$work/allowed/ro/a.txt"
echo "a file" > "$work/allowed/f.txt"
start_server
img=vmsandbox-test/hello:latest

# ---- no VM ------------------------------------------------------------------
mode=$(stat -c %a "$sock_a")
check socket_mode "socket mode $mode, wanted 660" test "$mode" = 660

dk "$sock_a" version --format '{{.Server.APIVersion}} {{.Server.Os}}' > "$work/version.out" 2>"$work/version.err"
check cli_version "docker version: $(excerpt "$work/version.out") $(excerpt "$work/version.err")" \
    test "$(cat "$work/version.out")" = "1.41 linux"

dk "$sock_a" load -i "$work/hello.tar" > "$work/load.out" 2>"$work/load.err"
check cli_load "docker load: $(excerpt "$work/load.out") $(excerpt "$work/load.err")" \
    has_line "$work/load.out" "^Loaded image: $img\$"

dk "$sock_a" images --format '{{.Repository}}:{{.Tag}}' > "$work/images.out" 2>&1
check cli_images "docker images: $(excerpt "$work/images.out")" test "$(cat "$work/images.out")" = "$img"

dk "$sock_a" image inspect --format '{{.Id}} {{.Os}}' "$img" > "$work/inspect.out" 2>&1
check cli_inspect "docker image inspect: $(excerpt "$work/inspect.out")" has_line "$work/inspect.out" '^sha256:[0-9a-f]{64} linux$'

dk "$sock_b" images -q > "$work/images-b.out" 2>&1
dk "$sock_b" image inspect "$img" > "$work/inspect-b.out" 2>&1; code=$?
check tenant_images_apart "tenant b sees a's image: $(excerpt "$work/images-b.out") $(excerpt "$work/inspect-b.out")" \
    test ! -s "$work/images-b.out" -a "$code" != 0

code=$(dcurl "$sock_a" POST /v1.41/containers/x/exec -d '{}')
check unknown_route "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 501 ] && message_has "does not implement"'

code=$(dcurl "$sock_a" POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image": ')
check bad_json "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 400 ] && message_has ""'

code=$(dcurl "$sock_a" POST /v1.41/containers/create -H 'Content-Type: application/json' \
    -d "{\"Image\":\"$img\",\"HostConfig\":{\"Binds\":[\"$work/outside:/erc\"]}}")
check bind_outside_roots "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 400 ] && message_has "$work/outside"'

# Tenant b has no root of its own: no host directory, even below --allow-root.
code=$(dcurl "$sock_b" POST /v1.41/containers/create -H 'Content-Type: application/json' \
    -d "{\"Image\":\"$img\",\"HostConfig\":{\"Binds\":[\"$work/allowed/ws:/erc\"]}}")
check bind_tenant_without_root "HTTP $code: $(excerpt "$work/body")" \
    eval '[ "$code" = 400 ] && message_has "tenant b has no allowed root"'

code=$(dcurl "$sock_a" GET "/v1.41/images/..%2F..%2Fetc/json")
check image_name_dotdot "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 400 ] || [ "$code" = 404 ]'

code=$(dcurl "$sock_a" POST "/v1.41/containers/nosuch/attach?stream=1&stdout=1")
check attach_missing "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 404 ] && message_has "No such container"'

dk "$sock_a" create --name never missing/image:1 > "$work/create-missing.out" 2>&1; code=$?
check create_missing_image "exit $code: $(excerpt "$work/create-missing.out")" \
    eval '[ "$code" != 0 ] && has_line "$work/create-missing.out" "pulls are not enabled"'

dk "$sock_a" create --name only-a "$img" > "$work/create-a.out" 2>&1
dk "$sock_b" inspect only-a > "$work/inspect-cross.out" 2>&1; code=$?
dk "$sock_b" ps -a -q > "$work/ps-b.out" 2>&1
check tenant_containers_apart "b sees a's container: exit $code $(excerpt "$work/inspect-cross.out") $(excerpt "$work/ps-b.out")" \
    eval '[ "$code" != 0 ] && has_line "$work/inspect-cross.out" "No such" && [ ! -s "$work/ps-b.out" ]'
dk "$sock_a" rm only-a > "$work/rm-created.out" 2>&1
dk "$sock_a" ps -a -q > "$work/ps-a.out" 2>&1
check cli_rm_created "docker rm of a created container: $(excerpt "$work/rm-created.out") $(excerpt "$work/ps-a.out")" \
    test ! -s "$work/ps-a.out"

# ---- one VM: docker run --rm with env, user, workdir and a bind -------------
dk "$sock_a" run --rm -e WHO=cli -u 1000 -w /erc -v "$work/allowed/ws:/erc" "$img" \
    sh -c 'echo "out-$WHO $(id -u) $(pwd)"; echo err-line >&2; cat keep.txt >&2; echo new > made.txt; exit 4' \
    > "$work/run.out" 2>"$work/run.err"; code=$?
check cli_run_exit_code "exit $code, wanted 4: $(excerpt "$work/run.err")" test "$code" = 4
check cli_run_stdout "stdout: $(excerpt "$work/run.out")" test "$(cat "$work/run.out")" = "out-cli 1000 /erc"
check cli_run_stderr "stderr: $(excerpt "$work/run.err")" test "$(cat "$work/run.err")" = "$(printf 'err-line\nkeep')"
check cli_run_env_user_workdir "stdout: $(excerpt "$work/run.out")" has_line "$work/run.out" '^out-cli 1000 /erc$'
check cli_run_write_back "made.txt: $(cat "$work/allowed/ws/made.txt" 2>&1)" test "$(cat "$work/allowed/ws/made.txt" 2>/dev/null)" = new
dk "$sock_a" ps -a -q > "$work/ps-after.out" 2>&1
check cli_run_removed "left: $(excerpt "$work/ps-after.out")" test ! -s "$work/ps-after.out"

# ---- one VM: several binds (ro dir, rw dir, ro file in it), -t, --hostname -------
# With -t the container's stdout and stderr are one raw stream (no frames).
dk "$sock_a" run --rm -t --hostname binds-host -v "$work/allowed/ro:/a:ro" -v "$work/allowed/rw:/b" \
    -v "$work/allowed/f.txt:/b/f.txt:ro" "$img" \
    sh -c 'uname -n; cat /a/a.txt /b/f.txt; echo no >&2 > /a/x.txt || echo ro-refused; echo made > /b/made.txt; touch /a/a.txt || echo ro-touch-refused' \
    > "$work/binds.out" 2>"$work/binds.err"; code=$?
tr -d '\r' < "$work/binds.out" > "$work/binds.txt"
check cli_tty_hostname "exit $code: $(excerpt "$work/binds.txt") $(excerpt "$work/binds.err")" eval '[ "$code" = 0 ] &&
    [ "$(head -n 3 "$work/binds.txt")" = "$(printf "binds-host\nread only\na file")" ] && grep -q $'"'"'\r'"'"' "$work/binds.out"'
check cli_binds_ro_refused "stdout: $(excerpt "$work/binds.txt")" eval 'has_line "$work/binds.txt" "^ro-refused\$" &&
    has_line "$work/binds.txt" "^ro-touch-refused\$"'
check cli_binds_rw_back "rw/made.txt: $(cat "$work/allowed/rw/made.txt" 2>&1)" \
    test "$(cat "$work/allowed/rw/made.txt" 2>/dev/null)" = made
check cli_binds_ro_kept "ro: $(ls "$work/allowed/ro")" eval '[ "$(ls "$work/allowed/ro")" = a.txt ] &&
    [ "$(cat "$work/allowed/ro/a.txt")" = "read only" ] && [ "$(cat "$work/allowed/f.txt")" = "a file" ]'

# ---- one VM: run -d, logs -f, wait, ps, rm -f --------------------------------
dk "$sock_a" run -d --name bg --label purpose=test "$img" sh -c 'echo one; echo two >&2; sleep 2; echo three; exit 7' \
    > "$work/bg.id" 2>"$work/bg.err"; code=$?
check cli_run_detached "exit $code: $(excerpt "$work/bg.err")" has_line "$work/bg.id" '^[0-9a-f]{12,64}$'
dk "$sock_a" logs -f bg > "$work/logs.out" 2>"$work/logs.err"
check cli_logs_follow "logs -f: $(excerpt "$work/logs.out")" test "$(cat "$work/logs.out")" = "$(printf 'one\nthree')"
dk "$sock_a" wait bg > "$work/wait.out" 2>&1
check cli_wait "docker wait: $(excerpt "$work/wait.out")" test "$(cat "$work/wait.out")" = 7
check cli_logs_streams "stderr of logs: $(excerpt "$work/logs.err")" test "$(cat "$work/logs.err")" = two
dk "$sock_a" ps -a --filter label=purpose=test --format '{{.Names}} {{.Status}}' > "$work/ps.out" 2>&1
check cli_ps "docker ps: $(excerpt "$work/ps.out")" has_line "$work/ps.out" '^bg Exited \(7\)'
dk "$sock_a" rm -f bg > "$work/rmf.out" 2>&1
dk "$sock_a" ps -a -q > "$work/ps-rmf.out" 2>&1
check cli_rm_f "docker rm -f: $(excerpt "$work/rmf.out") left $(excerpt "$work/ps-rmf.out")" test ! -s "$work/ps-rmf.out"

# ---- builds: two refused before any VM, then one VM: FROM a stored image -------
# The CLI 28 without buildx needs DOCKER_BUILDKIT=0 for the classic builder.
printf 'FROM busybox\nthis Dockerfile was sent alone' > "$work/not-a-tar"
code=$(dcurl "$sock_a" POST "/v1.41/build?t=x" -H 'Content-Type: application/x-tar' --data-binary @"$work/not-a-tar")
check build_not_a_tar "HTTP $code: $(excerpt "$work/body")" eval '[ "$code" = 400 ] && message_has "is not a usable tar"'
mkdir -p "$work/ctx-missing" "$work/ctx"
printf 'FROM absent/base:1\nRUN true\n' > "$work/ctx-missing/Dockerfile"
DOCKER_BUILDKIT=0 dk "$sock_a" build "$work/ctx-missing" > "$work/build-missing.out" 2>&1; code=$?
check build_missing_from "exit $code: $(excerpt "$work/build-missing.out")" eval '[ "$code" != 0 ] &&
    has_line "$work/build-missing.out" "FROM absent/base:1: no such image in the store and pulls need serve --allow-network"'
printf 'FROM %s\nCOPY note.txt /note.txt\nRUN cat /note.txt && echo ran > /ran.txt\n' "$img" > "$work/ctx/Dockerfile"
echo "built in a VM" > "$work/ctx/note.txt"
t0=$(date +%s)
DOCKER_BUILDKIT=0 dk "$sock_a" build -t built:1 "$work/ctx" > "$work/build.out" 2>"$work/build.err"; code=$?
echo "docker build (one VM): $(( $(date +%s) - t0 )) s"
built=$(sed -n 's/^Successfully built \([0-9a-f]\{12\}\)$/\1/p' "$work/build.out")
check cli_build "exit $code: $(excerpt "$work/build.out") $(excerpt "$work/build.err")" eval '[ "$code" = 0 ] &&
    has_line "$work/build.out" "^Step 3/3 : RUN cat /note.txt" && has_line "$work/build.out" "^built in a VM\$" &&
    [ -n "$built" ] && has_line "$work/build.out" "^Successfully tagged built:1\$"'
dk "$sock_a" image inspect --format '{{.Id}}' built:1 > "$work/built.id" 2>&1
check cli_build_stored "built:1 is $(excerpt "$work/built.id"), the build said ${built:-nothing}" \
    has_line "$work/built.id" "^sha256:${built:-none}[0-9a-f]{52}\$"
dk "$sock_a" rmi built:1 > /dev/null 2>&1

# ---- save and rmi (no VM) -----------------------------------------------------
dk "$sock_a" save -o "$work/saved.tar" "$img" > "$work/save.out" 2>&1
check cli_save "docker save: $(excerpt "$work/save.out")" eval 'tar_has "$work/saved.tar" manifest.json'
dk "$sock_a" rmi "$img" > "$work/rmi.out" 2>&1
dk "$sock_a" images -q > "$work/images-rmi.out" 2>&1
check cli_rmi "docker rmi: $(excerpt "$work/rmi.out") left $(excerpt "$work/images-rmi.out")" \
    eval 'has_line "$work/rmi.out" "^Untagged: $img\$" && [ ! -s "$work/images-rmi.out" ]'

# ---- dockerode, as o2r-muncher drives it (two VMs: run, build) ----------------
clients=$here/tests/clients
if [ -d "$clients/node_modules/dockerode" ]; then
    timeout 1800 node "$clients/muncher.js" "$sock_a" "$work/hello.tar" "$work/allowed/payload" > "$work/muncher.log" 2>&1
    record_client dockerode "$work/muncher.log"
    echo "dockerode: $(excerpt "$work/muncher.log" 400)"
else
    echo "no dockerode in $clients/node_modules (scripts/setup-host runs npm ci there)"
fi

# ---- docker-py (two VMs) ------------------------------------------------------
timeout 1800 /usr/bin/python3 "$clients/dockerpy.py" "$sock_b" "$work/hello.tar" > "$work/dockerpy.log" 2>&1
record_client dockerpy "$work/dockerpy.log"
echo "docker-py: $(excerpt "$work/dockerpy.log" 400)"

kill -TERM "$server"; wait "$server"
check nothing_left "$(no_leftovers)" no_leftovers
it_summary
