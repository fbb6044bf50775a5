"""Canopy's entrypoint for a job on Ray (shipped in the job's working_dir as _canopy/entry.py).

Ray runs `python _canopy/entry.py` in the job's working directory, which holds the job's
inputs/, scripts/ and an empty artifacts/. This wrapper:

1. reads _canopy/job.json (the job's argv, env and bounds, where to leave the artifacts) and
   removes _canopy/ so the job never sees it;
2. makes the working directory the job's /workspace: with bubblewrap on the node, the command
   runs in a mount namespace where /workspace is that directory (everything else of the node
   as it is); without it, the command runs in the directory itself, arguments naming
   /workspace/... are rewritten to it and CANOPY_WORKSPACE names it (said in a platform line);
3. bounds the command: wall time, output bytes (then the whole process group is stopped) and
   memory (RLIMIT_AS);
4. relays the command's stdout and stderr line by line, each tagged with its stream and the
   time it was read, because Ray merges both streams into one log;
5. zips artifacts/ (regular files only) and PUTs it to the URL Canopy gave (or copies it to a
   shared directory), then prints an end record Canopy reads: how the command ended and
   whether the artifacts were delivered.

Records on stdout: "\\x1f<kind> <unix-ms> <text>", kind o/e (stdout/stderr), O/E (same, the line
was cut at the line bound), p (platform), x (the end record, JSON). Only Python's standard
library: it runs on whatever Python the Ray node has.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

TAG = "\x1f"
_out = threading.Lock()


def emit(kind, text):
    record = "%s%s %d %s\n" % (TAG, kind, int(time.time() * 1000), text)
    with _out:
        sys.stdout.write(record)
        sys.stdout.flush()


class Run:
    def __init__(self, job):
        self.job = job
        self.proc = None
        self.reason = None  # timeout, output_limit, stopped
        self.output_bytes = 0
        self.lock = threading.Lock()

    def stop(self, reason):
        with self.lock:
            if self.reason is None:
                self.reason = reason
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            return
        grace = float(self.job.get("kill_grace_seconds", 0.25))

        def kill_later():
            time.sleep(grace)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

        threading.Thread(target=kill_later, daemon=True).start()

    def pump(self, pipe, kind):
        limit = int(self.job["line_max_bytes"])
        output_max = int(self.job["output_bytes"])
        dropping = False
        while True:
            chunk = pipe.readline(limit + 1)
            if not chunk:
                break
            with self.lock:
                self.output_bytes += len(chunk)
                over = self.output_bytes > output_max
            if over:
                self.stop("output_limit")
                continue
            complete = chunk.endswith(b"\n")
            if dropping:
                dropping = not complete
                continue
            text = chunk.rstrip(b"\n")
            if text.endswith(b"\r"):
                text = text[:-1]
            cut = len(text) > limit
            if cut:
                text = text[:limit]
                dropping = not complete
            emit(kind.upper() if cut else kind, text.decode("utf-8", "replace"))


def workspace_command(here, argv):
    """The argv that runs the command with /workspace = here, the job's name for its
    workspace, and the mode."""
    bwrap = shutil.which("bwrap")
    if bwrap:
        args = [bwrap, "--die-with-parent", "--unshare-pid", "--proc", "/proc", "--dev-bind", "/dev", "/dev"]
        for name in sorted(os.listdir("/")):
            if name in ("proc", "dev", "workspace"):
                continue
            path = "/" + name
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--dev-bind", path, path]
        args += ["--bind", here, "/workspace", "--chdir", "/workspace"]
        try:
            trial = subprocess.run(args + ["--", "true"], capture_output=True, timeout=10)
            if trial.returncode == 0:
                return args + ["--"] + argv, "/workspace", "bwrap"
            why = trial.stderr.decode("utf-8", "replace").strip()
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        emit("p", "bubblewrap cannot make /workspace on this node: %s" % why)
    rewritten = []
    for arg in argv:
        if arg == "/workspace":
            arg = here
        elif arg.startswith("/workspace/"):
            arg = os.path.join(here, arg[len("/workspace/"):])
        rewritten.append(arg)
    emit(
        "p",
        "/workspace is not available on this Ray node; the job runs in its working directory "
        "(%s, also in CANOPY_WORKSPACE), arguments naming /workspace/... point there, and paths "
        "written inside code must be relative" % here,
    )
    return rewritten, here, "relative"


def link_scripts(here):
    scripts = os.path.join(here, "scripts")
    if not os.path.isdir(scripts):
        return
    for name in os.listdir(scripts):
        top = os.path.join(here, name)
        if name in ("inputs", "scripts", "artifacts") or os.path.lexists(top):
            continue
        os.symlink(os.path.join("scripts", name), top)


def zip_artifacts(directory):
    path = directory.rstrip("/") + ".zip"
    count = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for root, dirs, files in os.walk(directory, followlinks=False):
            for name in files:
                full = os.path.join(root, name)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                archive.write(full, os.path.relpath(full, directory))
                count += 1
    return path, count


def deliver_artifacts(job, here):
    target = job.get("artifacts_target")
    if not target:
        return {"delivered": False, "files": 0, "error": "no artifacts target was given"}
    try:
        path, count = zip_artifacts(os.path.join(here, "artifacts"))
        size = os.path.getsize(path)
        if size > int(job["artifacts_max_bytes"]):
            return {"delivered": False, "files": count, "error": "the artifacts are %d bytes, over the bound" % size}
        if target.startswith("file://"):
            dest = target[len("file://"):]
            shutil.copyfile(path, dest + ".part")
            os.replace(dest + ".part", dest)
        else:
            with open(path, "rb") as body:
                request = urllib.request.Request(target, data=body, method="PUT")
                request.add_header("Content-Type", "application/zip")
                request.add_header("Content-Length", str(size))
                with urllib.request.urlopen(request, timeout=300) as response:
                    response.read()
        os.unlink(path)
        return {"delivered": True, "files": count, "error": None}
    except Exception as e:  # the end record says what went wrong; the job's result stands
        return {"delivered": False, "files": 0, "error": "%s: %s" % (type(e).__name__, e)}


def main():
    here = os.getcwd()
    with open(os.path.join(here, "_canopy", "job.json")) as f:
        job = json.load(f)
    shutil.rmtree(os.path.join(here, "_canopy"), ignore_errors=True)
    os.makedirs(os.path.join(here, "artifacts"), exist_ok=True)
    link_scripts(here)
    run = Run(job)
    signal.signal(signal.SIGTERM, lambda *_: run.stop("stopped"))

    argv, workspace, mode = workspace_command(here, job["argv"])
    env = dict(os.environ)
    env.update(job.get("runtime_env", {}))
    env["CANOPY_WORKSPACE"] = workspace
    env.update(job.get("env", {}))
    memory = job.get("memory_bytes")

    def in_child():
        import ctypes
        import resource

        try:  # die with the wrapper, whatever kills it
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        except Exception:
            pass
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))

    emit("p", "started on Ray node %s (workspace: %s)" % (os.uname().nodename, mode))
    started = time.monotonic()
    try:
        run.proc = subprocess.Popen(
            argv,
            cwd=here,  # bubblewrap's --chdir moves it to /workspace
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=in_child,
        )
    except OSError as e:
        emit("e", "cannot run %s: %s" % (job["argv"][0], e))
        emit("x", json.dumps({"reason": "exited", "exit_code": 127, "message": str(e), "artifacts": None}))
        return 127
    readers = [
        threading.Thread(target=run.pump, args=(run.proc.stdout, "o"), daemon=True),
        threading.Thread(target=run.pump, args=(run.proc.stderr, "e"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    wall = float(job["wall_seconds"])
    while True:
        left = wall - (time.monotonic() - started)
        try:
            run.proc.wait(timeout=max(0.05, min(left, 0.5)))
            break
        except subprocess.TimeoutExpired:
            if left <= 0:
                run.stop("timeout")
    for reader in readers:
        reader.join(timeout=2)
    code = run.proc.returncode
    if code < 0:
        code = 128 - code
    reason = run.reason or "exited"
    artifacts = None
    if reason != "stopped":
        artifacts = deliver_artifacts(job, here)
    elapsed = time.monotonic() - started
    emit(
        "x",
        json.dumps(
            {"reason": reason, "exit_code": code, "wall_seconds": round(elapsed, 3), "artifacts": artifacts, "workspace": mode}
        ),
    )
    if reason == "exited":
        return code
    return code or 1


if __name__ == "__main__":
    sys.exit(main())
