# stevedore, as containerit (o2r-project/containerit) drives it, against
# vmsandbox's Docker socket: containerit's get_installed_packages() runs a
# container with rm = TRUE and a name and reads its logs; its session-info
# path runs one with host_config binds and reads the file the container
# wrote into the bound directory, then removes the container; docker_build()
# builds a context directory with a tag and a dockerfile name and takes the
# image id from the build output.
#
#   Rscript containerit.R SOCKET BIND_DIR CONTEXT_DIR
#
# SOCKET's tenant must have vmsandbox-test/hello:latest (a busybox sh)
# loaded, and BIND_DIR (below its root) an in.txt holding "from the host".
# Prints "ok - STEP" or "FAIL - STEP: WHY" per step; exits 1 when one
# failed.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3L) {
  cat("usage: containerit.R SOCKET BIND_DIR CONTEXT_DIR\n")
  quit(status = 2L)
}
sock <- args[[1L]]
bind_dir <- args[[2L]]
context_dir <- args[[3L]]
image <- "vmsandbox-test/hello:latest"
failed <- FALSE

step <- function(name, fn) {
  why <- tryCatch(fn(), error = function(e) {
    msg <- gsub("[[:space:]]+", " ", conditionMessage(e))
    if (nzchar(msg)) substr(msg, 1L, 300L) else class(e)[[1L]]
  })
  if (is.null(why)) {
    cat(sprintf("ok - %s\n", name))
  } else {
    failed <<- TRUE
    cat(sprintf("FAIL - %s: %s\n", name, why))
  }
}

client <- NULL
step("client", function() {
  client <<- stevedore::docker_client(host = paste0("unix://", sock), quiet = TRUE)
  v <- client$api_version()
  # stevedore's newest spec is 1.39; the server offers 1.41, so it downgrades.
  if (!identical(v, "1.39")) sprintf("negotiated API version %s, wanted 1.39", v) else NULL
})
if (is.null(client)) quit(status = 1L)

step("available", function() {
  if (isTRUE(stevedore::docker_available(host = paste0("unix://", sock)))) NULL else "docker_available() is FALSE"
})

# containerit never loads an archive (it builds or pulls), and stevedore's
# image$import cannot: at API 1.39 its spec gives /images/load's answer no
# schema, so it fails with "Expected an empty response" on the
# {"stream":"Loaded image: ..."} lines that dockerd sends too. The suite loads
# the image through the socket before this script; stevedore must see it.
step("image_get", function() {
  id <- client$image$get(image)$id()
  if (grepl("^sha256:[0-9a-f]{64}$", id)) NULL else sprintf("image id %s", id)
})

# get_installed_packages(): run(rm = TRUE, name = ...), then $logs.
step("run_rm_logs", function() {
  out <- client$container$run(image, cmd = c("sh", "-c", "echo 'pkg,version'; echo 'base,4.2.2'"),
                              rm = TRUE, name = "containerit_get_installed_packages")
  pkgs <- read.csv(text = out$logs)
  if (!identical(names(pkgs), c("pkg", "version")) || !identical(pkgs$pkg, "base"))
    return(sprintf("logs read as %s", paste(format(out$logs), collapse = "|")))
  gone <- tryCatch({
    client$container$get("containerit_get_installed_packages")
    FALSE
  }, docker_error = function(e) isTRUE(e$code == 404))
  if (!gone) "the rm = TRUE container is still there" else NULL
})

# The session-info path: host_config binds, a file written back, remove().
step("run_bind_write_back", function() {
  out <- client$container$run(image, cmd = c("sh", "-c", "cat /data/in.txt > /data/out.txt; echo done >> /data/out.txt"),
                              host_config = list(binds = c(paste0(bind_dir, ":/data"))),
                              name = "containerit_sessioninfo")
  got <- readLines(file.path(bind_dir, "out.txt"))
  out$container$remove()
  if (!identical(got, c("from the host", "done")))
    return(sprintf("out.txt holds %s", paste(got, collapse = "|")))
  NULL
})

# docker_build(): image$build(context, tag, dockerfile), then $id().
step("build", function() {
  built <- client$image$build(context = context_dir, tag = "containerit_test", dockerfile = "Dockerfile")
  id <- built$id()
  want <- client$image$get("containerit_test:latest")$id()
  if (!identical(id, want)) sprintf("build gave id %s, the tag points at %s", id, want) else NULL
})

quit(status = if (failed) 1L else 0L)
