"""The reference MJML compiler (the `mjml` npm package), installed once into a cache folder.

`reference_compiler()` installs the pinned version with npm from the npm registry into
`$MAILENGINE_NPM_CACHE` (default `~/.cache/mailengine/npm`), once per version (a file lock
keeps parallel test processes from installing it twice), and returns a function that
compiles a folder of MJML files in one run of node. None, with the reason, when node or npm
is missing or the registry cannot be reached.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

MJML_VERSION = "4.15.3"
INSTALL_SECONDS = 300
COMPILE_SECONDS = 300

Compile = Callable[[Path, list[str], Path], None]


def cache_folder() -> Path:
    default = Path.home() / ".cache" / "mailengine" / "npm"
    return Path(os.environ.get("MAILENGINE_NPM_CACHE", default)) / f"mjml-{MJML_VERSION}"


def reference_compiler() -> tuple[Compile | None, str]:
    """(compile, "") or (None, why not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are needed for the reference mjml: apt-get install nodejs npm"
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    cli = folder / "node_modules" / "mjml" / "bin" / "mjml"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cli.is_file():
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder),
                 f"mjml@{MJML_VERSION}"],
                capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False,
            )  # fmt: skip
            if done.returncode != 0 or not cli.is_file():
                return None, f"npm install mjml@{MJML_VERSION} failed: {done.stderr[-500:]}"

    def compile_files(source_dir: Path, names: list[str], output_dir: Path) -> None:
        """`source_dir/<name>` → `output_dir/<name without .mjml>.html`, includes resolved
        relative to `source_dir`."""
        output_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [node, str(cli), "-r", *names, "-o", f"{output_dir}/",
             "--config.validationLevel=skip"],
            cwd=source_dir, capture_output=True, text=True, timeout=COMPILE_SECONDS, check=True,
        )  # fmt: skip

    return compile_files, ""
