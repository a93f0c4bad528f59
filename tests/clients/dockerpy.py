#!/usr/bin/python3
"""docker-py (Debian's python3-docker) against vmsandbox's Docker socket:
images.load, containers.run(..., remove=True), the API version it negotiates.

    dockerpy.py SOCKET IMAGE_TAR

Prints "ok - STEP" or "FAIL - STEP: WHY" per step; exits 1 when one failed.
"""
import sys

import docker

sock, image_tar = sys.argv[1], sys.argv[2]
failed = False


def step(name, fn):
    global failed
    try:
        why = fn()
    except Exception as e:  # a client error is a failed step, with its message
        why = " ".join(str(e).split())[:300] or type(e).__name__
    if why:
        failed = True
        print(f"FAIL - {name}: {why}")
    else:
        print(f"ok - {name}")


client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=900)
state = {}


def version():
    v = client.version()
    return None if v.get("ApiVersion") == "1.41" else f"ApiVersion {v.get('ApiVersion')}"


def load():
    with open(image_tar, "rb") as f:
        images = client.images.load(f.read())
    if len(images) != 1:
        return f"loaded {images}"
    state["image"] = images[0]
    return None if images[0].tags else f"no tags on {images[0].id}"


def run():
    out = client.containers.run(state["image"].tags[0], ["sh", "-c", "echo py-out; echo py-err >&2"],
                                remove=True, stdout=True, stderr=False, network_disabled=True,
                                mem_limit="256m", environment={"WHO": "docker-py"})
    return None if out == b"py-out\n" else f"stdout {out!r}"


def run_error():
    try:
        client.containers.run(state["image"].tags[0], ["sh", "-c", "echo bad >&2; exit 5"], remove=True)
    except docker.errors.ContainerError as e:
        if e.exit_status != 5:
            return f"exit {e.exit_status}"
        return None if b"bad" in (e.stderr or b"") else f"stderr {e.stderr!r}"
    return "no ContainerError for exit 5"


def gone():
    left = client.containers.list(all=True)
    return f"left {[c.name for c in left]}" if left else None


step("version", version)
step("load", load)
step("run_remove", run)
step("run_error", run_error)
step("removed", gone)
sys.exit(1 if failed else 0)
