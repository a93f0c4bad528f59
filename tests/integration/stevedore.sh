#!/bin/bash
# stevedore, the R Docker client that containerit uses, against `vmsandbox
# serve --docker-socket` (tests/clients/containerit.R: containerit's own
# calls — run with rm and a name, run with binds and a file written back,
# build with a tag — three VMs).
#
# stevedore is not packaged in Debian, and CRAN is not among the registries
# CI can reach, so the README's test command does not run this suite. To run
# it: R with stevedore's imports from Debian (r-base-core r-cran-crayon
# r-cran-curl r-cran-jsonlite r-cran-yaml), stevedore itself from its source
# (CRAN's tarball or github.com/richfitz/stevedore):
#   R CMD INSTALL -l DIR STEVEDORE_SOURCE
#   VS_R_LIBS=DIR flock /tmp/vmsandbox-vm.lock tests/integration/stevedore.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"
it_init stevedore "$(cd "${1:-$(dirname "$0")/../../build}" && pwd)"
unset DOCKER_HOST DOCKER_CERT_PATH DOCKER_TLS_VERIFY DOCKER_MACHINE_NAME
export R_LIBS=${VS_R_LIBS:-${R_LIBS:-}}
command -v Rscript >/dev/null || { echo "no Rscript (apt-get install r-base-core)"; exit 2; }
Rscript -e 'quit(status = !requireNamespace("stevedore", quietly = TRUE))' >/dev/null 2>&1 ||
    { echo "stevedore is not installed for Rscript (R_LIBS=$R_LIBS): see the head of $0"; exit 2; }
version=$(Rscript -e 'cat(as.character(packageVersion("stevedore")))' 2>/dev/null)
sock=$work/docker.sock

it_expect stevedore_client stevedore_available stevedore_image_get stevedore_run_rm_logs \
    stevedore_run_bind_write_back stevedore_build nothing_left

mkdir -p "$work/allowed/session" "$work/context"
"$here/scripts/make-test-image" --out "$work/hello.tar"
echo "from the host" > "$work/allowed/session/in.txt"
printf 'FROM vmsandbox-test/hello:latest\nCOPY hello.txt /\n' > "$work/context/Dockerfile"
echo hi > "$work/context/hello.txt"

"$vms" serve --docker-socket "$sock:containerit:$work/allowed" --max-jobs 1 --memory-budget 4G \
    --allow-root "$work/allowed" --state-dir "$state" --grace 5s 2>>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null' EXIT
up() { kill -0 "$server" 2>/dev/null && [ "$(curl -s --max-time 5 --unix-socket "$sock" http://docker/_ping)" = OK ]; }
wait_for 30 up || { echo "server did not start: $(excerpt "$work/server.log" 600)"; exit 2; }

echo "stevedore $version"
# Loaded as a sibling client would (containerit.R says why not by stevedore).
code=$(curl -s --max-time 120 --unix-socket "$sock" -o "$work/load.out" -w '%{http_code}' -X POST \
    --data-binary @"$work/hello.tar" http://docker/images/load)
[ "$code" = 200 ] || { echo "loading the image: $code $(excerpt "$work/load.out")"; exit 2; }
timeout 1800 Rscript "$here/tests/clients/containerit.R" "$sock" "$work/allowed/session" \
    "$work/context" > "$work/containerit.log" 2>&1
record_client stevedore "$work/containerit.log"
echo "containerit.R: $(excerpt "$work/containerit.log" 600)"

kill -TERM "$server"; wait "$server"
check nothing_left "$(no_leftovers)" no_leftovers
it_summary
