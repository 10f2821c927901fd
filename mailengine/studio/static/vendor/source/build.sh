#!/bin/sh
# Rebuild ../codemirror.js and ../codemirror.LICENSES.txt from the npm registry at the versions
# pinned in package-lock.json. Needs node and npm; writes only into the vendor folder.
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json entry.js "$work/"
cd "$work"
npm ci --no-audit --no-fund
npx esbuild entry.js --bundle --format=esm --minify --legal-comments=none \
    --outfile="$OLDPWD/../codemirror.js"
python3 - "$OLDPWD/../codemirror.LICENSES.txt" <<'PY'
import json, os, sys
lock = json.load(open("package-lock.json"))
parts = ["Third-party software bundled in codemirror.js, each with its licence.\n"]
for path, info in sorted(lock["packages"].items()):
    if not path or "esbuild" in path:
        continue  # the project itself and the build tool, which is not bundled
    name = path.removeprefix("node_modules/")
    licence = next(f for f in sorted(os.listdir(path)) if f.upper().startswith(("LICEN", "COPYING")))
    text = open(os.path.join(path, licence), encoding="utf-8").read().strip()
    rule = "=" * 72
    parts.append(f"{rule}\n{name} {info['version']} ({info.get('license')})\n{rule}\n\n{text}\n")
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(parts))
PY
