#!/bin/bash
# Integration tests of `vmsandbox serve` and its CLI clients: the real daemon on
# loopback (and on a unix socket), driven with curl, running real VMs.  The
# checks that need no VM come first.
#   tests/integration/serve.sh [BUILD_DIR]      (run it under the VM lock)
. "$(dirname "$0")/lib.sh"
it_init serve "$(cd "${1:-$(dirname "$0")/../../build}" && pwd)"
unset VMSANDBOX_SERVER VMSANDBOX_TOKEN VMSANDBOX_CONFIG VMSANDBOX_ACCEL
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
token=$(cat "$work/token")
printf 'short-tok' > "$work/short-token"
sock=$work/serve.sock

it_expect token_too_short health no_token wrong_token malformed_json unknown_field wrong_type negative_limit \
    huge_limit deep_json body_too_large path_outside_roots path_escape symlink_escape unknown_job bad_route \
    create_201 list_bad_status list_status_filter list_summary_shape start_without_image outputs_before_end upload_not_tar \
    upload_unsafe_workspace upload_too_large upload_leaves_nothing cancel_created cancel_finished delete deleted_gone \
    client_no_server client_bad_url client_no_token client_env_server \
    client_fetch_refused client_fetch_unknown client_logs_unknown client_submit_accel client_submit_base client_submit_out \
    upload_ok start start_twice upload_after_start logs_follow job_success user_dir_untouched fetch_workspace \
    fetch_file file_escape file_absolute file_symlink fetch_image \
    run_sync run_sync_exit_code run_sync_error \
    client_submit_follow client_status client_fetch client_cancel_finished \
    queue_positions list_queued delete_running queue_in_order \
    cancel_running cancel_destroys_vm metrics \
    restart_marks_lost restart_keeps_jobs restart_nothing_left \
    client_submit_no_follow sigterm_drains grace_cancels socket_mode requeue_after_restart client_unix_logs \
    client_unix_status nothing_left sigint_clean_exit \
    budget_bad_value budget_over_refused budget_over_stays_created budget_start_param_leaves_nothing \
    budget_run_sync_refused budget_server_stops

# start_server [--socket]: serve on a free loopback port (or on $sock); fails
# the suite if our own process does not answer /v1/health within 30 s.
start_server() {
    local listen=() tries
    for tries in 1 2 3; do
        if [ "${1:-}" = --socket ]; then listen=(--socket "$sock"); base=http://localhost; curl_sock=$sock
        else port=$(free_port) || { echo "no free port"; exit 2; }; listen=(--listen "127.0.0.1:$port"); base=http://127.0.0.1:$port; curl_sock=; fi
        "$vms" serve "${listen[@]}" --token-file "$work/token" --max-jobs 1 --allow-root "$work/allowed" \
            --state-dir "$state" --max-upload 8M --grace 5s 2>>"$work/server.log" &
        server=$!
        wait_for 30 healthy "$base" "$server" "$curl_sock" && return 0
        kill -0 "$server" 2>/dev/null && { kill -KILL "$server"; wait "$server"; }
        wait "$server" 2>/dev/null
    done
    echo "server did not start: $(excerpt "$work/server.log" 600)"; exit 2
}

# api METHOD PATH [curl args...]: body to $work/body, prints the HTTP code.
api() {
    local m=$1 p=$2; shift 2
    local opts=()
    [ -n "$curl_sock" ] && opts=(--unix-socket "$curl_sock")
    curl -s --max-time 600 "${opts[@]}" -o "$work/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $token" "$@" "$base$p"
}
field() { jfield "$work/body" "$1"; }
# expect_code NAME WANT_HTTP HTTP [WANT_ERROR_CODE]: the status, and for errors
# the body's documented {"error":{"code":...}} (not the message wording).
expect_code() {
    if [ "$3" != "$2" ]; then fail "$1" "HTTP $3, wanted $2: $(excerpt "$work/body")"; return 1; fi
    if [ -n "${4:-}" ] && [ "$(field .error.code)" != "$4" ]; then
        fail "$1" "error code '$(field .error.code)', wanted '$4': $(excerpt "$work/body")"; return 1
    fi
    pass "$1"
}
status_is() { api GET "/v1/jobs/$1" >/dev/null; local s; for s in "${@:2}"; do [ "$(field .status)" = "$s" ] && return 0; done; return 1; }
# wait_status ID SECONDS STATUS...: fails when the deadline passes first.
wait_status() { local id=$1 secs=$2; shift 2; wait_for "$secs" status_is "$id" "$@"; }
log_has() { api GET "/v1/jobs/$1/logs" >/dev/null; has_line "$work/body" "$2"; }
job_field() { api GET "/v1/jobs/$1" >/dev/null; field "$2"; }
# gone PID: exited (a zombie not yet reaped counts: kill -0 would still succeed).
gone() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 0; [[ $s == Z* ]]; }
no_domains() { local d; d=$(our_domains) || return 1; [ -z "$d" ]; }
quiet_no_leftovers() { no_leftovers >/dev/null; }
snapshot() { (cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | LC_ALL=C sort); }

mkdir -p "$work/allowed/ws/sub" "$work/outside" "$work/evil"
"$here/scripts/make-test-image" --out "$work/allowed/hello.tar"
"$here/scripts/make-test-image" --out "$work/outside/hello.tar"
ln -s "$work/outside" "$work/allowed/sneaky"
echo data > "$work/allowed/ws/in.txt"
mkdir -p "$work/ws" && echo data > "$work/ws/in.txt"
tar -C "$work/ws" -cf "$work/ws.tar" .
echo x > "$work/evil/f" && tar -C "$work/evil" -cf "$work/evil.tar" --transform 's,^f$,../escape,' f
head -c 9M /dev/zero > "$work/big.bin"
head -c 1100000 /dev/zero | tr '\0' ' ' > "$work/big.json"   # whitespace: valid JSON only by length
echo '{}' >> "$work/big.json"
echo "not a tar" > "$work/notatar"

# ---- no VM: start-up, auth, bad input, the job life cycle without a run ------
port=$(free_port)
expect token_too_short 2 "shorter than 16" -- "$vms" serve --listen "127.0.0.1:$port" --token-file "$work/short-token" \
    --state-dir "$state"
start_server

code=$(curl -s -o "$work/body" -w '%{http_code}' "$base/v1/health")
check health "HTTP $code: $(excerpt "$work/body")" [ "$code" = 200 -a "$(field .status)" = ok ]
expect_code no_token 401 "$(curl -s -o "$work/body" -w '%{http_code}' "$base/v1/jobs")" unauthorized
expect_code wrong_token 401 "$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer wrong-token-wrong" "$base/v1/jobs")" unauthorized
expect_code malformed_json 400 "$(api POST /v1/jobs -d '{"image":')" bad_request
expect_code unknown_field 400 "$(api POST /v1/jobs -d '{"imag":"x"}')" bad_request
expect_code wrong_type 400 "$(api POST /v1/jobs -d '{"cpus":"many"}')" bad_request
expect_code negative_limit 400 "$(api POST /v1/jobs -d '{"memory":-1}')" bad_request
expect_code huge_limit 400 "$(api POST /v1/jobs -d '{"memory":"9T"}')" bad_request
expect_code deep_json 400 "$(api POST /v1/jobs -d "$(printf '%.0s[' $(seq 100))")" bad_request
expect_code body_too_large 413 "$(api POST /v1/jobs --data-binary @"$work/big.json")" too_large
expect_code path_outside_roots 403 "$(api POST /v1/jobs -d "{\"image\":\"$work/outside/hello.tar\"}")" forbidden
expect_code path_escape 403 "$(api POST /v1/jobs -d "{\"image\":\"$work/allowed/../outside/hello.tar\"}")" forbidden
expect_code symlink_escape 403 "$(api POST /v1/jobs -d "{\"image\":\"$work/allowed/sneaky/hello.tar\"}")" forbidden
expect_code unknown_job 404 "$(api GET /v1/jobs/0123456789ab)" not_found
expect_code bad_route 404 "$(api GET /v1/nothing)" not_found

code=$(api POST /v1/jobs -d '{}'); bad=$(field .id)
check create_201 "HTTP $code: $(excerpt "$work/body")" [ "$code" = 201 -a "$(field .status)" = created -a ${#bad} = 12 ]
expect_code list_bad_status 400 "$(api GET '/v1/jobs?status=bogus')" bad_request
code=$(api GET '/v1/jobs?status=created')
check list_status_filter "HTTP $code: $(excerpt "$work/body")" \
    [ "$code" = 200 -a "$(jq -c '[.. | objects | select(has("id") and has("status")) | .status] | unique' "$work/body")" = '["created"]' \
      -a "$(jq -r --arg id "$bad" '[.. | objects | select(.id? == $id)] | length' "$work/body")" -ge 1 ]
# docs/api.md: GET /v1/jobs lists summaries, with the owner ("" for the admin's jobs)
check list_summary_shape "$(excerpt "$work/body")" \
    [ "$(jq -c --arg id "$bad" '.jobs[] | select(.id == $id) | [keys, .owner, .status]' "$work/body")" = \
      '[["created_ms","error","exit_code","id","owner","status"],"","created"]' ]
expect_code start_without_image 409 "$(api POST "/v1/jobs/$bad/start")" conflict
expect_code outputs_before_end 409 "$(api GET "/v1/jobs/$bad/workspace")" conflict
expect_code upload_not_tar 400 "$(api PUT "/v1/jobs/$bad/image" --data-binary @"$work/notatar")" bad_input
expect_code upload_unsafe_workspace 400 "$(api PUT "/v1/jobs/$bad/workspace" --data-binary @"$work/evil.tar")" bad_input
expect_code upload_too_large 413 "$(api PUT "/v1/jobs/$bad/workspace" --data-binary @"$work/big.bin")" too_large
left=$(find "$state/server/jobs/$bad" -name '*upload*')
check upload_leaves_nothing "left: $left" [ -z "$left" ]
expect_code cancel_created 202 "$(api POST "/v1/jobs/$bad/cancel")"
expect_code cancel_finished 409 "$(api POST "/v1/jobs/$bad/cancel")" conflict
code=$(api DELETE "/v1/jobs/$bad")
check delete "HTTP $code: $(excerpt "$work/body")" [ "$code" = 200 -a "$(field .deleted)" = "$bad" ]
expect_code deleted_gone 404 "$(api GET "/v1/jobs/$bad")" not_found
expect client_no_server 2 "--server URL is required" -- "$vms" status 0123456789ab --token-file "$work/token"
expect client_bad_url 2 "expected http://HOST:PORT or unix:/PATH" -- "$vms" status 0123456789ab --server ftp://x --token-file "$work/token"
expect client_no_token 2 "a token is required" -- "$vms" status 0123456789ab --server "$base"
# $VMSANDBOX_SERVER and $VMSANDBOX_TOKEN are used: the service itself answers 404 (exit 2)
expect client_env_server 2 "" -- env VMSANDBOX_SERVER="$base" VMSANDBOX_TOKEN="$token" "$vms" status 0123456789ab
if grep -qE -- "--server URL is required|token is required" "$work/client_env_server.err"; then
    fail client_env_server "environment not used: $(excerpt "$work/client_env_server.err")"; fi
# docs/cli.md: a failed connection and a 4xx answer exit 2 with one line;
# fetch leaves no --out behind; logs never prints the server's error JSON.
noport=$(free_port)
expect client_fetch_refused 2 "Couldn't connect to server" -- \
    "$vms" fetch 0123456789ab --server "http://127.0.0.1:$noport" --token-file "$work/token" --out "$work/fetch-refused" &&
    { [ ! -e "$work/fetch-refused" ] || fail client_fetch_refused "left $work/fetch-refused: $(ls -A "$work/fetch-refused")"; }
expect client_fetch_unknown 2 "server answered 404: no job 0123456789ab" -- \
    "$vms" fetch 0123456789ab --server "$base" --token-file "$work/token" --out "$work/fetch-unknown" &&
    { [ ! -e "$work/fetch-unknown" ] || fail client_fetch_unknown "left $work/fetch-unknown: $(ls -A "$work/fetch-unknown")"; }
expect client_logs_unknown 2 "server answered 404: no job 0123456789ab" -- \
    "$vms" logs 0123456789ab --server "$base" --token-file "$work/token" &&
    { [ ! -s "$work/client_logs_unknown.out" ] || fail client_logs_unknown "stdout: $(excerpt "$work/client_logs_unknown.out")"; }
expect client_submit_accel 2 "--accel belongs to run" -- \
    "$vms" submit --server "$base" --token-file "$work/token" --tag x:y --accel tcg
expect client_submit_base 2 "--base-image belongs to run" -- \
    "$vms" submit --server "$base" --token-file "$work/token" --tag x:y --base-image /nonexistent
expect client_submit_out 2 "--out, --json and --quiet belong to run" -- \
    "$vms" submit --server "$base" --token-file "$work/token" --tag x:y --out "$work/submit-out"

# --memory-budget without a VM (tests9): a second server with a 1 GiB budget
# and its own state dir.  A job asking for more than the whole budget is
# refused at start (409 conflict) and stays created; with ?start=1 it is not
# kept; /v1/run refuses it too.  (That jobs which would exceed the budget
# queue rather than run is tested with the fake runner: test_service.c, case
# "budget".)
budget_checks() {
    local bport bbase bserver code bid
    bapi() { local m=$1 p=$2; shift 2
        curl -s --max-time 60 -o "$work/bbody" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $token" "$@" "$bbase$p"; }
    bfield() { jfield "$work/bbody" "$1"; }
    bport=$(free_port) || { fail budget_bad_value "no free port"; return; }
    expect budget_bad_value 2 "--memory-budget lots: bad value" -- "$vms" serve --listen "127.0.0.1:$bport" \
        --token-file "$work/token" --state-dir "$work/state-budget" --memory-budget lots
    mkdir -p "$work/state-budget" && chmod 0711 "$work/state-budget"
    bbase=http://127.0.0.1:$bport
    "$vms" serve --listen "127.0.0.1:$bport" --token-file "$work/token" --state-dir "$work/state-budget" \
        --allow-root "$work/allowed" --memory-budget 1G --max-jobs 2 2>>"$work/server-budget.log" &
    bserver=$!
    if ! wait_for 30 healthy "$bbase" "$bserver"; then
        for t in budget_over_refused budget_over_stays_created budget_start_param_leaves_nothing budget_run_sync_refused \
                 budget_server_stops; do fail $t "the budget server did not start: $(excerpt "$work/server-budget.log")"; done
        kill -KILL "$bserver" 2>/dev/null; wait "$bserver" 2>/dev/null; return
    fi
    bapi POST /v1/jobs -d "{\"image\":\"$work/allowed/hello.tar\",\"memory\":\"1025M\"}" >/dev/null; bid=$(bfield .id)
    code=$(bapi POST "/v1/jobs/$bid/start")
    check budget_over_refused "HTTP $code: $(excerpt "$work/bbody")" [ "$code" = 409 -a "$(bfield .error.code)" = conflict \
        -a "$(bfield .error.message)" = "job $bid asks for more memory than the service may use" ]
    bapi GET "/v1/jobs/$bid" >/dev/null
    check budget_over_stays_created "$(excerpt "$work/bbody")" \
        [ "$(bfield .status)" = created -a "$(jq -r .queue_position "$work/bbody")" = null ]
    code=$(bapi POST '/v1/jobs?start=1' -d "{\"image\":\"$work/allowed/hello.tar\",\"memory\":\"2G\"}")
    if [ "$code" = 409 ] && [ "$(bfield .error.code)" = conflict ] && bapi GET /v1/jobs >/dev/null &&
       [ "$(jq -c '[.. | objects | select(has("id") and has("status")) | .id]' "$work/bbody")" = "[\"$bid\"]" ]
    then pass budget_start_param_leaves_nothing
    else fail budget_start_param_leaves_nothing "HTTP $code, jobs: $(excerpt "$work/bbody")"; fi
    code=$(bapi POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\",\"memory\":\"2G\"}")
    check budget_run_sync_refused "HTTP $code: $(excerpt "$work/bbody")" \
        [ "$code" = 409 -a "$(bfield .error.code)" = conflict ]
    kill -TERM "$bserver"
    if wait_for 30 gone "$bserver"; then wait "$bserver"; code=$?; check budget_server_stops "exit $code" [ $code = 0 ]
    else kill -KILL "$bserver"; wait "$bserver"; fail budget_server_stops "still running 30 s after SIGTERM"; fi
}
budget_checks

# IT_NO_VM=1: only the checks above (for working on them; the VM tests then count as failed).
if [ -n "${IT_NO_VM:-}" ]; then kill -TERM "$server"; wait "$server"; it_summary; exit; fi

# ---- one job: uploaded image, server-side workspace, follow, fetch -----------
before=$(snapshot "$work/allowed/ws")
api POST /v1/jobs -d "{\"export_image\":true,\"workspace\":\"$work/allowed/ws\",\"cmd\":[\"sh\",\"-c\",\"echo out-line; cat /erc/in.txt; echo made > /erc/new.txt; busybox ln -s /etc/passwd /erc/link\"]}" >/dev/null
id=$(field .id)
expect_code upload_ok 200 "$(api PUT "/v1/jobs/$id/image" --data-binary @"$work/allowed/hello.tar")"
code=$(api POST "/v1/jobs/$id/start")
# queued, or already running: a free worker may take it before the answer is built
st=$(field .status)
started_ok() { [ "$code" = 202 ] && { [ "$st" = queued ] || [ "$st" = running ]; }; }
check start "HTTP $code, status $st: $(excerpt "$work/body")" started_ok
expect_code start_twice 409 "$(api POST "/v1/jobs/$id/start")" conflict
expect_code upload_after_start 409 "$(api PUT "/v1/jobs/$id/image" --data-binary @"$work/allowed/hello.tar")" conflict
curl -s -N --max-time 600 -H "Authorization: Bearer $token" "$base/v1/jobs/$id/logs?follow=1" > "$work/follow.txt"
if has_line "$work/follow.txt" '^out-line$' && has_line "$work/follow.txt" '^data$'; then pass logs_follow
else fail logs_follow "$(excerpt "$work/follow.txt")"; fi
api GET "/v1/jobs/$id" >/dev/null
if [ "$(field .status)" = success ] && [ "$(field '.steps[] | select(.name=="wait") | .status')" = success ] &&
   [ "$(field .exit_code)" = 0 ]; then pass job_success
else fail job_success "$(excerpt "$work/body" 400)"; fi
check user_dir_untouched "$(snapshot "$work/allowed/ws")" [ "$(snapshot "$work/allowed/ws")" = "$before" ]
curl -s -H "Authorization: Bearer $token" "$base/v1/jobs/$id/workspace" -o "$work/got.tar"
check fetch_workspace "$(tar -tf "$work/got.tar" 2>&1 | tr '\n' ' ')" tar_has "$work/got.tar" new.txt
code=$(api GET "/v1/jobs/$id/files/new.txt")
check fetch_file "HTTP $code: $(excerpt "$work/body")" [ "$code" = 200 -a "$(cat "$work/body")" = made ]
expect_code file_escape 404 "$(api GET "/v1/jobs/$id/files/..%2F..%2Fjob.json")" not_found
expect_code file_absolute 404 "$(api GET "/v1/jobs/$id/files/%2Fetc%2Fpasswd")" not_found
expect_code file_symlink 404 "$(api GET "/v1/jobs/$id/files/link")" not_found
code=$(api GET "/v1/jobs/$id/image")
cp "$work/body" "$work/img.tar"
check fetch_image "HTTP $code" [ "$code" = 200 ]
tar_has "$work/img.tar" manifest.json || fail fetch_image "no manifest.json in the image"

# ---- nbo2rproxy's synchronous shape ------------------------------------------
code=$(api POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\"}")
field '.log[]' > "$work/sync.log"
if [ "$code" = 200 ] && [ "$(field .success.StatusCode)" = 0 ] && has_line "$work/sync.log" 'hello from vmsandbox' &&
   [ -n "$(field .id)" ]; then pass run_sync; else fail run_sync "HTTP $code $(excerpt "$work/body")"; fi
code=$(api POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"exit 7\"]}")
check run_sync_exit_code "HTTP $code $(excerpt "$work/body")" [ "$code" = 200 -a "$(field .success.StatusCode)" = 7 ]
# A workflow that does not run to its end: 500 with the documented error shape.
code=$(api POST /v1/run -d "{\"image\":\"$work/allowed/hello.tar\",\"timeout\":\"2s\",\"cmd\":[\"sleep\",\"600\"]}")
check run_sync_error "HTTP $code $(excerpt "$work/body")" \
    [ "$code" = 500 -a "$(field .error.code)" = timeout -a -n "$(field .error.message)" -a -n "$(field .id)" \
      -a "$(jq -r '.log | type' "$work/body")" = array ]

# ---- the CLI as a client -----------------------------------------------------
"$vms" submit --server "$base" --token-file "$work/token" --follow --image "$work/allowed/hello.tar" \
    --workspace "$work/ws" -- sh -c 'echo via-client; cat /erc/in.txt; exit 4' >"$work/submit.out" 2>"$work/submit.err"
code=$?
if [ $code = 4 ] && has_line "$work/submit.out" '^via-client$' && has_line "$work/submit.out" '^data$'; then pass client_submit_follow
else fail client_submit_follow "exit $code: $(excerpt "$work/submit.err")"; fi
cid=$(sed -n 's/^vmsandbox: job \([0-9a-f]\{12\}\)$/\1/p' "$work/submit.err")
"$vms" status "$cid" --server "$base" --token-file "$work/token" > "$work/status.json"
check client_status "$(excerpt "$work/status.json")" [ "$(jfield "$work/status.json" .exit_code)" = 4 ]
"$vms" fetch "$cid" --server "$base" --token-file "$work/token" --out "$work/fetched" 2>"$work/fetch.err"
code=$?
if [ $code = 0 ] && tar_has "$work/fetched/workspace.tar" in.txt && has_line "$work/fetched/output.log" '^via-client$' &&
   [ "$(jfield "$work/fetched/job.json" .id)" = "$cid" ]; then pass client_fetch
else fail client_fetch "exit $code: $(excerpt "$work/fetch.err") $(ls "$work/fetched" 2>&1)"; fi
expect client_cancel_finished 2 "" -- env VMSANDBOX_TOKEN="$token" "$vms" cancel "$cid" --server "$base"

# ---- queue order with --max-jobs 1 (three jobs: FIFO, not LIFO), DELETE running
long="{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"echo running; sleep 600\"]}"
short="{\"image\":\"$work/allowed/hello.tar\",\"cmd\":[\"sh\",\"-c\",\"echo short\"]}"
api POST '/v1/jobs?start=1' -d "$long" >/dev/null; q1=$(field .id)
api POST '/v1/jobs?start=1' -d "$short" >/dev/null; q2=$(field .id)
api POST '/v1/jobs?start=1' -d "$short" >/dev/null; q3=$(field .id)
if wait_status "$q1" 300 running && wait_for 300 log_has "$q1" '^running$'; then
    # q1 runs (for 600 s): q2 and q3 wait behind it, in that order
    p2=$(job_field "$q2" .queue_position); p3=$(job_field "$q3" .queue_position)
    if [ -n "$p2" ] && [ -n "$p3" ] && [ "$p3" = $((p2 + 1)) ] && status_is "$q2" queued && status_is "$q3" queued
    then pass queue_positions; else fail queue_positions "q2 at ${p2:-none}, q3 at ${p3:-none}"; fi
    # exactly the two queued jobs (the listing's order is not documented: queue
    # order is checked by queue_positions and queue_in_order)
    code=$(api GET '/v1/jobs?status=queued')
    check list_queued "HTTP $code: $(excerpt "$work/body")" \
        [ "$(jq -c '[.. | objects | select(has("status") and has("id")) | .id] | sort' "$work/body")" = "$(jq -nc --arg a "$q2" --arg b "$q3" '[$a, $b] | sort')" ]
    code=$(api DELETE "/v1/jobs/$q1")
    if [ "$code" = 200 ] && [ "$(field .deleted)" = "$q1" ] && ! status_is "$q1" created queued running success cancelled error &&
       [ "$(api GET "/v1/jobs/$q1")" = 404 ]; then pass delete_running
    else fail delete_running "HTTP $code: $(excerpt "$work/body")"; fi
else fail delete_running "q1 never ran: $(excerpt "$work/body")"; fail queue_positions "q1 never ran"; fail list_queued "q1 never ran"; fi
if wait_status "$q3" 300 success failure error cancelled timeout; then
    e2=$(job_field "$q2" .finished_ms); st2=$(job_field "$q2" .status)
    s3=$(job_field "$q3" .started_ms); st3=$(job_field "$q3" .status)
    if [ "$st2" = success ] && [ "$st3" = success ] && [ "$s3" -ge "$e2" ]; then pass queue_in_order
    else fail queue_in_order "q2 $st2 ended $e2, q3 $st3 started $s3"; fi
else fail queue_in_order "q3 did not finish: $(excerpt "$work/body")"; fi

# ---- cancel a running job ----------------------------------------------------
api POST '/v1/jobs?start=1' -d "$long" >/dev/null; c1=$(field .id)
if wait_status "$c1" 300 running && wait_for 300 log_has "$c1" '^running$'; then
    expect_code cancel_running 202 "$(api POST "/v1/jobs/$c1/cancel")"
    if wait_status "$c1" 120 cancelled && wait_for 60 quiet_no_leftovers; then pass cancel_destroys_vm
    else fail cancel_destroys_vm "$(job_field "$c1" .status): $(no_leftovers)"; fi
else fail cancel_running "never ran: $(excerpt "$work/body")"; fail cancel_destroys_vm "never ran"; fi
# The histogram counted real boots (a zero line is printed even with no job).
api GET /metrics >/dev/null; cp "$work/body" "$work/metrics.txt"
boots=$(sed -n 's/^vmsandbox_phase_seconds_count{phase="boot"} \([0-9]*\)$/\1/p' "$work/metrics.txt")
succ=$(sed -n 's/^vmsandbox_jobs{state="success"} \([0-9]*\)$/\1/p' "$work/metrics.txt")
check metrics "boot count ${boots:-none}, success jobs ${succ:-none}" [ "${boots:-0}" -ge 5 -a "${succ:-0}" -ge 3 ]

# ---- kill -9 mid-job, restart ------------------------------------------------
api POST '/v1/jobs?start=1' -d "$long" >/dev/null; k1=$(field .id)
api POST /v1/jobs -d "{\"image\":\"$work/allowed/hello.tar\"}" >/dev/null; k2=$(field .id)
if ! { wait_status "$k1" 300 running && wait_for 300 log_has "$k1" '^running$'; }; then
    echo "k1 never ran: $(excerpt "$work/body")"
fi
kill -9 "$server"; wait "$server" 2>/dev/null
start_server
api GET "/v1/jobs/$k1" >/dev/null
if [ "$(field .status)" = error ] && [[ "$(field .error)" == *lost* ]]; then pass restart_marks_lost
else fail restart_marks_lost "$(field .status) $(field .error)"; fi
check restart_keeps_jobs "$(job_field "$k2" .status)" status_is "$k2" created
# autodestroy: the killed service's VM goes with its connection
if wait_for 60 no_domains; then pass restart_nothing_left
else fail restart_nothing_left "$(our_domains 2>&1)"; fi

# ---- SIGTERM drains: a running job gets --grace, then is cancelled; a queued
# job stays queued, is queued again after the restart (here on a unix socket),
# and runs.  Clients: submit without --follow, logs/status over unix:.
api POST '/v1/jobs?start=1' -d "$long" >/dev/null; d1=$(field .id)
"$vms" submit --server "$base" --token-file "$work/token" --image "$work/allowed/hello.tar" \
    -- sh -c 'echo requeued-ran' >"$work/submit2.out" 2>"$work/submit2.err"
code=$?
d2=$(cat "$work/submit2.out")
if [ $code = 0 ] && [ ${#d2} = 12 ] && status_is "$d2" queued; then pass client_submit_no_follow
else fail client_submit_no_follow "exit $code, stdout '$d2': $(excerpt "$work/submit2.err")"; fi
if wait_status "$d1" 300 running && wait_for 300 log_has "$d1" '^running$'; then
    t0=$(date +%s)
    kill -TERM "$server"
    # --grace 5s, then the VM is destroyed: well within a minute
    if wait_for 90 gone "$server"; then
        wait "$server"; code=$?
        check sigterm_drains "exit $code after $(( $(date +%s) - t0 )) s" [ $code = 0 ]
    else kill -KILL "$server"; wait "$server"; fail sigterm_drains "still running 90 s after SIGTERM"; fi
else fail sigterm_drains "d1 never ran: $(excerpt "$work/body")"; kill -TERM "$server"; wait "$server"; fi
start_server --socket
check grace_cancels "d1 is $(job_field "$d1" .status)" status_is "$d1" cancelled
check socket_mode "$(stat -c %a "$sock")" [ "$(stat -c %a "$sock")" = 660 ]
VMSANDBOX_SERVER=unix:$sock VMSANDBOX_TOKEN=$token timeout 600 "$vms" logs "$d2" --follow >"$work/logs2.out" 2>"$work/logs2.err"
check client_unix_logs "$(excerpt "$work/logs2.out") $(excerpt "$work/logs2.err")" has_line "$work/logs2.out" '^requeued-ran$'
check requeue_after_restart "d2 is $(job_field "$d2" .status)" status_is "$d2" success
VMSANDBOX_SERVER=unix:$sock VMSANDBOX_TOKEN=$token "$vms" status "$d2" > "$work/status2.json" 2>"$work/status2.err"
check client_unix_status "$(excerpt "$work/status2.json") $(excerpt "$work/status2.err")" \
    [ "$(jfield "$work/status2.json" .id)" = "$d2" -a "$(jfield "$work/status2.json" .exit_code)" = 0 ]
# every domain gone, and the job dirs too (k1's is removed by the next job)
if left=$(no_leftovers); then pass nothing_left; else fail nothing_left "$left"; fi

# ---- SIGINT with nothing running: a clean exit -------------------------------
kill -INT "$server"
if wait_for 30 gone "$server"; then wait "$server"; code=$?; check sigint_clean_exit "exit $code" [ $code = 0 ]
else kill -KILL "$server"; wait "$server"; fail sigint_clean_exit "still running 30 s after SIGINT"; fi

it_summary
