#!/usr/bin/env bash
# Static type check of the whole exoqc package with mypy (make test runs it).
#
# The package is spread over top-level folders that pyproject.toml maps into it (features/ is
# exoqc.features, ...). mypy cannot read that mapping, so the check runs on a tree of symbolic
# links laid out as the installed package; paths in its messages are the repository's.
# Arguments are passed to mypy (e.g. a file list: scripts/typecheck.sh features/nta/readers/zetaview.py).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mypy="${MYPY:-$repo/.venv/bin/mypy}"
# The check runs in a temporary tree: a relative MYPY is taken from here.
case "$mypy" in /*) ;; *) mypy="$PWD/$mypy" ;; esac
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/exoqc"
for entry in "$repo"/exoqc/*; do ln -s "$entry" "$tree/exoqc/"; done
python3 - "$repo" "$tree" <<'PY'
import os, sys, tomllib
repo, tree = sys.argv[1:]
with open(os.path.join(repo, "pyproject.toml"), "rb") as f:
    mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
for package, folder in mapping.items():
    if package != "exoqc":
        os.symlink(os.path.join(repo, folder), os.path.join(tree, *package.split(".")))
PY
cd "$tree"
if [ "$#" -eq 0 ]; then
    targets=(-p exoqc)
else
    # Files of the repository, named as the package sees them; only their own errors.
    targets=(--follow-imports=silent)
    for file in "$@"; do
        rel="$(realpath --relative-to="$repo" "$file" 2>/dev/null || echo "$file")"
        case "$rel" in
            exoqc/*) targets+=("$rel") ;;
            *) targets+=("exoqc/$rel") ;;
        esac
    done
fi
# Messages name the repository's paths, not the temporary tree's.
"$mypy" --config-file "$repo/pyproject.toml" "${targets[@]}" 2>&1 | sed "s#^exoqc/\(features\|model\|training\|inference\|monitor\)/#\1/#"
exit "${PIPESTATUS[0]}"
