# Canopy's run_code runner: runs the code file given as argv[1] as __main__, with the
# workspace first on sys.path and, when argv[2] names an input file, its JSON as the global
# `input_json` (its path is also in the environment as CANOPY_INPUT_JSON).
#
# With --wait, the runner was started ahead of its run: it waits until Canopy has written the
# run's code (and input) to /run/canopy and opens the FIFO /run/canopy/go, then runs it as if
# it had been started with those paths.
import sys

if sys.argv[1:2] == ["--wait"]:
    import os

    with open("/run/canopy/go", "rb") as _go:
        _go.read(1)
    sys.argv = ["/run/canopy/main.py"]
    if os.path.exists("/run/canopy/input.json"):
        sys.argv.append("/run/canopy/input.json")
        os.environ["CANOPY_INPUT_JSON"] = "/run/canopy/input.json"
else:
    sys.argv = sys.argv[1:]
sys.path[0] = "/workspace"
_g = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "<code>"}
if len(sys.argv) > 1:
    import json

    with open(sys.argv[1], encoding="utf-8") as _f:
        _g["input_json"] = json.load(_f)
with open(sys.argv[0], encoding="utf-8") as _f:
    _src = _f.read()
del sys.argv[1:]
exec(compile(_src, "<code>", "exec"), _g)
