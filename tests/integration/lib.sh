# Shared harness of the integration suites (run.sh, serve.sh): sourced, not run.
#
#   it_init SUITE BUILD_DIR      work dir, results, the suite's private state dir
#   it_expect NAME...            declare the tests the suite must report
#   pass NAME / fail NAME WHY    record one result (a fail is never overwritten)
#   it_summary                   count against the declared list; last line "N passed, N failed"
#
# Every test name is declared up front with it_expect, and it_summary counts the
# declared list, not the result files: a test whose subshell died, or that was
# never reached, is a failure ("no result"), and a result nobody declared is one
# too, so the list cannot rot.
#
# No pipes into `grep -q` or `head` (under pipefail the writer can die of
# SIGPIPE and fail a correct check): files are written first, then read. No
# sleep as synchronisation: wait_for polls a condition against a deadline and
# fails when the deadline passes.
set -uo pipefail

it_init() {
    suite=$1
    build=$2
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    vms=$build/vmsandbox
    work=$(mktemp -d "${TMPDIR:-/tmp}/vmsandbox-$suite-XXXXXX") || exit 2
    # QEMU (user libvirt-qemu) must reach job files below the private state
    # dir: 0711 lets it traverse without listing.
    chmod 0711 "$work"
    results=$work/results
    state=$work/state
    mkdir -p "$results" "$state"
    chmod 0711 "$state"
    : > "$work/expected"
    command -v jq >/dev/null || { echo "jq is required (scripts/setup-host installs it)"; exit 2; }
    [ -x "$vms" ] || { echo "no $vms: build first"; exit 2; }
}

it_expect() { printf '%s\n' "$@" >> "$work/expected"; }

pass() {
    echo "ok - $suite: $1"
    [ -e "$results/$1" ] || echo ok > "$results/$1"
}
fail() {
    echo "FAIL - $suite: $1: $2"
    printf '%s\n' "$2" > "$results/$1"
}
# check NAME WHY CMD...: pass when CMD succeeds, else fail with WHY (evaluated by the caller).
check() {
    local name=$1 why=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

# record_client PREFIX LOG: one result per "ok - STEP" / "FAIL - STEP: WHY"
# line that a client script (tests/clients) printed.
record_client() {
    local prefix=$1 log=$2 line name
    while IFS= read -r line; do
        case $line in
        "ok - "*) pass "${prefix}_${line#ok - }" ;;
        "FAIL - "*) name=${line#FAIL - }; fail "${prefix}_${name%%:*}" "${name#*: }" ;;
        esac
    done < "$log"
}

it_summary() {
    local p=0 f=0 name
    declare -A want=()
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        if [ -n "${want[$name]:-}" ]; then echo "FAIL - $suite: $name declared twice"; f=$((f + 1)); continue; fi
        want[$name]=1
        if [ ! -e "$results/$name" ]; then
            echo "FAIL - $suite: $name: no result (never reached, or its subshell died)"; f=$((f + 1))
        elif [ "$(cat "$results/$name")" = ok ]; then p=$((p + 1))
        else f=$((f + 1)); fi
    done < "$work/expected"
    for name in "$results"/*; do
        [ -e "$name" ] || continue
        name=${name##*/}
        [ -n "${want[$name]:-}" ] || { echo "FAIL - $suite: $name reported but not declared"; f=$((f + 1)); }
    done
    if [ $f = 0 ]; then rm -rf "$work"; else echo "kept $work for inspection"; fi
    echo "$p passed, $f failed"
    [ $f = 0 ]
}

# A short excerpt of a file for a failure message.
excerpt() { [ -f "$1" ] && tail -c "${2:-300}" "$1" | tr '\n' ' '; }

# expect NAME WANT_EXIT NEEDLE -- CMD...: exit status, a line of stderr
# containing NEEDLE (fixed string; empty: any), and for exit 2 (bad usage or
# input) an error of at most 3 lines, as docs/cli.md promises.
expect() {
    local name=$1 want=$2 needle=$3; shift 4
    local err=$work/$name.err code
    "$@" >"$work/$name.out" 2>"$err"; code=$?
    if [ "$code" != "$want" ]; then fail "$name" "exit $code, wanted $want: $(excerpt "$err")"; return 1; fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" "$err"; then fail "$name" "stderr lacks '$needle': $(excerpt "$err")"; return 1; fi
    if [ "$want" = 2 ] && [ "$(wc -l < "$err")" -gt 3 ]; then fail "$name" "error is not short: $(excerpt "$err")"; return 1; fi
    pass "$name"
}

# jfield FILE JQ-EXPR: one value of a JSON file ("" when absent or not JSON).
jfield() { jq -r "$2 // empty" "$1" 2>/dev/null; }

# has_line FILE REGEX: a line of FILE matches (grep reads the whole file: no SIGPIPE).
has_line() { grep -qE -- "$2" "$1" 2>/dev/null; }

# tar_has TAR NAME: the archive lists NAME (listed to a file first, then read).
tar_has() {
    tar -tf "$1" > "$work/tar-list.$$" 2>/dev/null || return 1
    grep -qxE -- "(\./)?$2/?" "$work/tar-list.$$"
}

# wait_for SECONDS CMD...: polls CMD (every 0.2 s) until it succeeds; returns 1
# once SECONDS have passed without success.  The caller must fail its test then.
wait_for() {
    local secs=$1; shift
    local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
    while :; do
        "$@" && return 0
        [ $(( $(date +%s%N) / 1000000 )) -lt $deadline ] || return 1
        sleep 0.2
    done
}

# free_port: a loopback TCP port nothing listens on right now (the server is
# still checked after it starts: another process could take it in between).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# healthy URL PID [SOCKET]: our server answers /v1/health with 2xx and
# {"status":"ok"} (curl -f: any other HTTP server does not count), and the
# process we started is still alive.
healthy() {
    local opts=()
    [ -n "${3:-}" ] && opts=(--unix-socket "$3")
    kill -0 "$2" 2>/dev/null || return 1
    curl -fsS --max-time 5 "${opts[@]}" -o "$work/health.json" "$1/v1/health" 2>/dev/null &&
        [ "$(jfield "$work/health.json" .status)" = ok ]
}

# our_domains: names of libvirt domains whose disks live below this suite's
# state dir (other jobs on the host are not ours to count).  Fails when virsh
# fails, so a broken libvirt cannot pass as "nothing left".
our_domains() {
    local names d
    names=$(virsh -c qemu:///system list --all --name 2>"$work/virsh.err") || { echo "virsh failed: $(excerpt "$work/virsh.err")" >&2; return 1; }
    for d in $names; do
        case $d in vmsandbox-*) ;; *) continue ;; esac
        # A domain that vanished meanwhile makes dumpxml fail: not left over.
        virsh -c qemu:///system dumpxml "$d" > "$work/dom.xml" 2>/dev/null || continue
        grep -qF -- "$state/" "$work/dom.xml" && echo "$d"
    done
    return 0
}

# no_leftovers: no domain of ours and no job dir under our state dir; says what is left.
no_leftovers() {
    local doms jobs
    doms=$(our_domains) || return 1
    jobs=$(find "$state/jobs" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    if [ -n "$doms" ] || [ "$jobs" != 0 ]; then
        echo "left: domains [$(echo $doms)], $jobs job dir(s) under $state/jobs"; return 1
    fi
}
