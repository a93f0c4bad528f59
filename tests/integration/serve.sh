#!/bin/bash
# Integration tests of `vmsandbox serve`: the real daemon on loopback, driven
# with curl, running real VMs.
#   tests/integration/serve.sh [BUILD_DIR]
set -uo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
vms=$build/vmsandbox
work=$(mktemp -d /tmp/vmsandbox-serve-XXXXXX)
chmod 0711 "$work"
results=$work/results state=$work/state
mkdir -p "$results" "$state"
port=$((20000 + RANDOM % 20000))
base=http://127.0.0.1:$port
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
token=$(cat "$work/token")

pass() { echo "ok - serve_$1"; echo ok > "$results/$1"; }
fail() { echo "FAIL - serve_$1: $2"; echo "$2" > "$results/$1"; }

start_server() {
    "$vms" serve --listen "127.0.0.1:$port" --token-file "$work/token" --max-jobs 1 --allow-root "$work/allowed" \
        --state-dir "$state" --max-upload 8M --grace 5s 2>>"$work/server.log" &
    server=$!
    for _ in $(seq 50); do curl -s "$base/v1/health" >/dev/null && return 0; sleep 0.1; done
    echo "server did not start: $(cat "$work/server.log")"; exit 1
}

# api METHOD PATH [curl args...]: body to $work/body, prints the HTTP code.
api() {
    local m=$1 p=$2; shift 2
    curl -s -o "$work/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $token" "$@" "$base$p"
}
field() { jq -r "$1" "$work/body"; }
expect_code() { # NAME WANT CODE_FROM_API [needle in body]
    if [ "$3" != "$2" ]; then fail "$1" "HTTP $3, wanted $2: $(head -c 300 "$work/body")"; return 1; fi
    if [ -n "${4:-}" ] && ! grep -qF -- "$4" "$work/body"; then fail "$1" "body lacks '$4': $(head -c 300 "$work/body")"; return 1; fi
    pass "$1"
}
wait_status() { # ID STATUS...: up to 5 minutes
    for _ in $(seq 600); do
        api GET "/v1/jobs/$1" >/dev/null
        for s in "${@:2}"; do [ "$(field .status)" = "$s" ] && return 0; done
        sleep 0.5
    done
    return 1
}
no_vms() { [ "$(virsh -c qemu:///system list --name 2>/dev/null | grep -c '^vmsandbox-')" = 0 ] && [ -z "$(ls "$state/jobs" 2>/dev/null)" ]; }

mkdir -p "$work/allowed" "$work/ws/sub" "$work/outside"
"$here/scripts/make-test-image" --out "$work/allowed/hello.tar"
"$here/scripts/make-test-image" --out "$work/outside/hello.tar"
echo data > "$work/ws/in.txt"
tar -C "$work/ws" -cf "$work/ws.tar" .
head -c 9M /dev/zero > "$work/big.bin"
echo "not a tar" > "$work/notatar"

start_server

# ---- auth and bad input --------------------------------------------------
code=$(curl -s -o "$work/body" -w '%{http_code}' "$base/v1/health"); expect_code health 200 "$code" '"ok"'
code=$(curl -s -o "$work/body" -w '%{http_code}' "$base/v1/jobs"); expect_code no_token 401 "$code" unauthorized
code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer wrong-token-wrong" "$base/v1/jobs")
expect_code wrong_token 401 "$code" unauthorized
expect_code malformed_json 400 "$(api POST /v1/jobs -d '{"image":')" malformed
expect_code unknown_field 400 "$(api POST /v1/jobs -d '{"imag":"x"}')" 'unknown field'
expect_code wrong_type 400 "$(api POST /v1/jobs -d '{"cpus":"many"}')" 'cpus'
expect_code negative_limit 400 "$(api POST /v1/jobs -d '{"memory":-1}')" 'memory'
expect_code huge_limit 400 "$(api POST /v1/jobs -d '{"memory":"9T"}')" '--memory must be between'
expect_code deep_json 400 "$(api POST /v1/jobs -d "$(printf '%.0s[' $(seq 100))")" 'deeper'
expect_code path_outside_roots 403 "$(api POST /v1/jobs -d "{\"image\":\"$work/outside/hello.tar\"}")" 'outside the allowed roots'
expect_code path_escape 403 "$(api POST /v1/jobs -d "{\"image\":\"$work/allowed/../outside/hello.tar\"}")" 'outside'
expect_code unknown_job 404 "$(api GET /v1/jobs/0123456789ab)" not_found
expect_code bad_route 404 "$(api GET /v1/nothing)" not_found

api POST /v1/jobs -d '{}' >/dev/null; bad=$(field .id)
expect_code start_without_image 409 "$(api POST "/v1/jobs/$bad/start")" 'no image'
expect_code upload_not_tar 400 "$(api PUT "/v1/jobs/$bad/image" --data-binary @"$work/notatar")" 'not a tar'
expect_code upload_too_large 413 "$(api PUT "/v1/jobs/$bad/workspace" --data-binary @"$work/big.bin")" 'limit'
[ -z "$(ls -A "$state/server/jobs/$bad" | grep upload)" ] && pass upload_leaves_nothing || fail upload_leaves_nothing "$(ls -A "$state/server/jobs/$bad")"
expect_code cancel_created 202 "$(api POST "/v1/jobs/$bad/cancel")" cancelled
expect_code cancel_finished 409 "$(api POST "/v1/jobs/$bad/cancel")" 'already finished'
expect_code delete 200 "$(api DELETE "/v1/jobs/$bad")" deleted
expect_code deleted_gone 404 "$(api GET "/v1/jobs/$bad")"

# ---- upload, start, follow, fetch ------------------------------------------
api POST /v1/jobs -d '{"export_image":true,"cmd":["sh","-c","echo out-line; cat /erc/in.txt; echo made > /erc/new.txt"]}' >/dev/null
id=$(field .id)
api PUT "/v1/jobs/$id/image" --data-binary @"$work/allowed/hello.tar" >/dev/null
api PUT "/v1/jobs/$id/workspace" --data-binary @"$work/ws.tar" >/dev/null
expect_code start 202 "$(api POST "/v1/jobs/$id/start")"
expect_code start_twice 409 "$(api POST "/v1/jobs/$id/start")" 'already'
curl -s -N -H "Authorization: Bearer $token" "$base/v1/jobs/$id/logs?follow=1" > "$work/follow.txt"
if grep -q out-line "$work/follow.txt" && grep -q data "$work/follow.txt"; then pass logs_follow; else fail logs_follow "$(cat "$work/follow.txt")"; fi
api GET "/v1/jobs/$id" >/dev/null
if [ "$(field .status)" = success ] && [ "$(field '.steps[] | select(.name=="wait") | .status')" = success ]; then pass job_success
else fail job_success "$(head -c 400 "$work/body")"; fi
curl -s -H "Authorization: Bearer $token" "$base/v1/jobs/$id/workspace" -o "$work/got.tar"
tar -tf "$work/got.tar" 2>/dev/null | grep -q 'new.txt' && pass fetch_workspace || fail fetch_workspace "$(tar -tf "$work/got.tar" 2>&1 | head)"
expect_code fetch_file 200 "$(api GET "/v1/jobs/$id/files/new.txt")" made
expect_code file_escape 404 "$(api GET "/v1/jobs/$id/files/..%2F..%2Fjob.json")"
code=$(api GET "/v1/jobs/$id/image")
cp "$work/body" "$work/img.tar"
[ "$code" = 200 ] && tar -tf "$work/img.tar" | grep -q manifest.json && pass fetch_image || fail fetch_image "HTTP $code"

# ---- nbo2rproxy's synchronous shape ---------------------------------------
code=$(api POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\"}")
if [ "$code" = 200 ] && [ "$(field .success.StatusCode)" = 0 ] && field '.log[]' | grep -q "hello from vmsandbox"
then pass run_sync; else fail run_sync "HTTP $code $(head -c 300 "$work/body")"; fi
code=$(api POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"exit 7\"]}")
[ "$code" = 200 ] && [ "$(field .success.StatusCode)" = 7 ] && pass run_sync_exit_code || fail run_sync_exit_code "HTTP $code $(head -c 300 "$work/body")"

# ---- the CLI as a client ---------------------------------------------------
"$vms" submit --server "$base" --token-file "$work/token" --follow --image "$work/allowed/hello.tar" \
    --workspace "$work/ws" -- sh -c 'echo via-client; cat /erc/in.txt; exit 4' >"$work/submit.out" 2>"$work/submit.err"
code=$?
if [ $code = 4 ] && grep -q via-client "$work/submit.out" && grep -q data "$work/submit.out"; then pass client_submit_follow
else fail client_submit_follow "exit $code: $(tail -c 300 "$work/submit.err")"; fi
cid=$(grep -o 'job [0-9a-f]\{12\}' "$work/submit.err" | cut -d' ' -f2)
"$vms" status "$cid" --server "$base" --token-file "$work/token" > "$work/status.json" &&
    [ "$(jq -r .exit_code "$work/status.json")" = 4 ] && pass client_status || fail client_status "$(head -c 200 "$work/status.json")"
"$vms" fetch "$cid" --server "$base" --token-file "$work/token" --out "$work/fetched" 2>"$work/fetch.err" &&
    tar -tf "$work/fetched/workspace.tar" | grep -q in.txt && grep -q via-client "$work/fetched/output.log" &&
    pass client_fetch || fail client_fetch "$(cat "$work/fetch.err") $(ls "$work/fetched" 2>&1)"
VMSANDBOX_TOKEN=$token "$vms" cancel "$cid" --server "$base" 2>"$work/cancel.err"
[ $? = 2 ] && grep -q "already finished" "$work/cancel.err" && pass client_cancel_finished || fail client_cancel_finished "$(cat "$work/cancel.err")"

# ---- queue order with --max-jobs 1, then cancel a running job --------------
spec="{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"echo running; sleep 5\"]}"
api POST '/v1/jobs?start=1' -d "$spec" >/dev/null; q1=$(field .id)
api POST '/v1/jobs?start=1' -d "$spec" >/dev/null; q2=$(field .id)
api GET "/v1/jobs/$q2" >/dev/null
[ "$(field .status)" = queued ] && pass second_job_queued || fail second_job_queued "$(field .status)"
wait_status "$q2" success failure error
api GET "/v1/jobs/$q1" >/dev/null; e1=$(field .finished_ms)
api GET "/v1/jobs/$q2" >/dev/null; s2=$(field .started_ms)
[ "$(field .status)" = success ] && [ "$s2" -ge "$e1" ] && pass queue_in_order || fail queue_in_order "q2 started $s2, q1 ended $e1"

api POST '/v1/jobs?start=1' -d "{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"echo running; sleep 600\"]}" >/dev/null
c1=$(field .id)
wait_status "$c1" running
for _ in $(seq 240); do api GET "/v1/jobs/$c1/logs" >/dev/null; grep -q running "$work/body" && break; sleep 0.5; done
expect_code cancel_running 202 "$(api POST "/v1/jobs/$c1/cancel")"
wait_status "$c1" cancelled && no_vms && pass cancel_destroys_vm || fail cancel_destroys_vm "$(field .status)"

# ---- kill -9 mid-job, restart ---------------------------------------------
api POST '/v1/jobs?start=1' -d "{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sleep\",\"600\"]}" >/dev/null
k1=$(field .id)
api POST /v1/jobs -d "{\"image\":\"$work/allowed/hello.tar\"}" >/dev/null; k2=$(field .id)
wait_status "$k1" running
sleep 3
kill -9 "$server"; wait "$server" 2>/dev/null
start_server
api GET "/v1/jobs/$k1" >/dev/null
if [ "$(field .status)" = error ] && field .error | grep -q lost; then pass restart_marks_lost; else fail restart_marks_lost "$(field .status) $(field .error)"; fi
api GET "/v1/jobs/$k2" >/dev/null
[ "$(field .status)" = created ] && pass restart_keeps_jobs || fail restart_keeps_jobs "$(field .status)"
sleep 2
no_vms && pass restart_nothing_left || fail restart_nothing_left "$(virsh -c qemu:///system list --name)"
expect_code metrics 200 "$(api GET /metrics)" 'vmsandbox_phase_seconds_bucket{phase="boot"'

# ---- SIGTERM drains --------------------------------------------------------
kill -TERM "$server"
if wait "$server"; then pass sigterm_clean_exit; else fail sigterm_clean_exit "exit $?"; fi

passed=$(grep -lx ok "$results"/* | wc -l)
total=$(ls "$results" | wc -l)
failed=$((total - passed))
[ $failed = 0 ] && rm -rf "$work" || echo "kept $work for inspection"
echo "$passed passed, $failed failed"
[ $failed = 0 ]
