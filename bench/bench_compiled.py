"""Would compiled code reach the capture goals? The middleware's hot modules compiled with mypyc, side by side.

    python bench/bench_compiled.py [--runs 3] [--duration 3] [--in-process]

Copies ``attribution/`` into a temporary directory, compiles the modules a request goes through (the
middleware, the capture rules, the cookie codec and the request's state) with mypyc, which comes with mypy, a
development dependency, and needs a C compiler and Python's headers. Then ``bench_server.py --compiled``
measures bare, pure-Python and compiled servers in the same runs; with ``--in-process``, ``bench_capture.py``
measures the compiled copy in process instead (run it without this bench for the pure-Python figures).
Nothing is installed and the project is not changed: the library ships as pure Python, and this bench is how
that choice is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The modules a capture request runs through.
HOT = (
    "web/middleware",
    "web/capturer",
    "capture/rules",
    "web/state",
    "capture/wire",
    "capture/cookie",
    "capture/clicks",
    "capture/channels",
    "capture/params",
    "web/requestinfo",
    "capture/lru",
)


def mypy_config() -> str:
    """The project's mypy settings (pyproject.toml) as the mypy.ini that mypyc reads in the copy."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    lines = ["[mypy]", f"strict = {settings.get('strict', True)}"]
    for override in settings.get("overrides", []):
        lines.append(f"[mypy-{','.join(override['module'])}]")
        lines += [f"{key} = {value}" for key, value in override.items() if key != "module"]
    return "\n".join(lines) + "\n"


def build(into: Path) -> None:
    """The package in ``into``, its hot modules compiled in place."""
    shutil.copytree(ROOT / "attribution", into / "attribution", ignore=shutil.ignore_patterns("__pycache__"))
    (into / "mypy.ini").write_text(mypy_config())
    sources = [f"attribution/{name}.py" for name in HOT]
    print(f"compiling {len(sources)} modules with mypyc ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *sources], cwd=into, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"mypyc failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    built = sorted(path.name for path in (into / "attribution").glob("*.so"))
    if len(built) != len(HOT):
        raise SystemExit(f"mypyc built {built}, not the {len(HOT)} modules asked for")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3)
    parser.add_argument(
        "--in-process", action="store_true", help="run bench_capture.py on the compiled copy (5 rounds per run)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="attribution-mypyc-") as tmp:
        build(Path(tmp))
        env = None
        if args.in_process:
            command = [sys.executable, str(ROOT / "bench" / "bench_capture.py"), "--rounds", str(5 * args.runs)]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        else:
            command = [sys.executable, str(ROOT / "bench" / "bench_server.py"), "--compiled", tmp]
            command += ["--runs", str(args.runs), "--duration", str(args.duration)]
        raise SystemExit(subprocess.run(command, env=env, check=False).returncode)


if __name__ == "__main__":
    main()
