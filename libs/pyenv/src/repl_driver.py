# Canopy's REPL driver: runs inside a REPL session's sandbox, keeps one namespace between
# requests. Protocol (one JSON object per line, FIFOs in the directory given as argv[1]):
#   in  (engine -> driver): {"id": N, "code": "..."}
#   out (driver -> engine): {"ready": true, "python": "3.11.2"} once, then per request
#       {"id": N, "stdout": "...", "stderr": "...", "result": "repr of the last expression" | null,
#        "error": "traceback" | null, "interrupted": bool, "truncated": bool, "exit": N (only when
#        the code called exit(): the driver exits with status N right after this answer)}
#   ctl (engine -> driver): "interrupt N" raises KeyboardInterrupt in request N, if still running.
# stdout/stderr of each request are captured (cut past argv[2] bytes each); the sandbox's own
# fd 1/2 only see what bypasses sys.stdout (subprocesses, C code).
import ast, io, json, os, signal, sys, threading, traceback

FIFOS, LIMIT = sys.argv[1], int(sys.argv[2])
_ns = {"__name__": "__main__", "__builtins__": __builtins__}
_lock = threading.Lock()
_state = {"current": None, "executing": False}


class _Capped(io.TextIOBase):
    def __init__(self):
        self.parts, self.size = [], 0

    def writable(self):
        return True

    def write(self, s):
        if self.size < LIMIT:
            piece = s[: LIMIT - self.size]
            self.parts.append(piece)
            self.size += len(piece)
        return len(s)

    def getvalue(self):
        return "".join(self.parts)


def _on_sigint(signum, frame):
    if _state["executing"]:
        raise KeyboardInterrupt


def _watch(ctl):
    main = threading.main_thread().ident
    for line in ctl:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "interrupt":
            with _lock:
                if _state["current"] == int(parts[1]) and _state["executing"]:
                    signal.pthread_kill(main, signal.SIGINT)


def _execute(code, out, err):
    tree = ast.parse(code, "<repl>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        _state["executing"] = True
        exec(compile(tree, "<repl>", "exec"), _ns)
        if last is not None:
            value = eval(compile(last, "<repl>", "eval"), _ns)
            if value is not None:
                _ns["_"] = value
                return repr(value)
        return None
    finally:
        _state["executing"] = False
        sys.stdout, sys.stderr = old


def main():
    signal.signal(signal.SIGINT, _on_sigint)
    sys.stdin = io.StringIO("")
    inp = open(os.path.join(FIFOS, "in"), "r", encoding="utf-8")
    out = open(os.path.join(FIFOS, "out"), "w", encoding="utf-8")
    ctl = open(os.path.join(FIFOS, "ctl"), "r", encoding="utf-8")
    threading.Thread(target=_watch, args=(ctl,), daemon=True).start()
    v = sys.version_info
    out.write(json.dumps({"ready": True, "python": "%d.%d.%d" % v[:3]}) + "\n")
    out.flush()
    for line in inp:
        try:
            req = json.loads(line)
            rid, code = int(req["id"]), str(req["code"])
        except Exception:
            continue
        so, se = _Capped(), _Capped()
        answer = {"id": rid, "result": None, "error": None, "interrupted": False}
        with _lock:
            _state["current"] = rid
        try:
            try:
                answer["result"] = _execute(code, so, se)
            except KeyboardInterrupt:
                answer["interrupted"] = True
                answer["error"] = "KeyboardInterrupt: the execution ran past its time and was interrupted"
            except SystemExit as e:
                # exit(), quit(), sys.exit(): the session ends, as a REPL does, once answered.
                if e.code is None or isinstance(e.code, int):
                    answer["exit"] = e.code or 0
                else:
                    se.write("%s\n" % (e.code,))
                    answer["exit"] = 1
                if answer["exit"]:
                    answer["error"] = "SystemExit: %r" % (e.code,)
            except BaseException:
                answer["error"] = traceback.format_exc()
            with _lock:
                _state["current"] = None
        except KeyboardInterrupt:
            answer["interrupted"] = True
        answer["stdout"], answer["stderr"] = so.getvalue(), se.getvalue()
        answer["truncated"] = so.size >= LIMIT or se.size >= LIMIT
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if "exit" in answer:
            os._exit(answer["exit"])


main()
