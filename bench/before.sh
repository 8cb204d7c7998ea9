#!/usr/bin/env bash
# A built checkout of an earlier commit, for the benchmarks' BENCH_BEFORE and
# BENCH_BEFORE_METRICS (see bench/core.js): the commit's tracked files (git archive) in a
# directory outside the repository, with its own `npm ci` and `npm run build`. The
# repository gets no worktree, branch or commit from it. Prints the directory, and only
# that, on stdout; a second run for the same commit reuses what the first built.
#   BENCH_BEFORE=$(bash bench/before.sh 4f10ba3) npm run bench
#   bash bench/before.sh <commit> [directory]   (default: $TMPDIR/express-async-api-<commit>)
set -euo pipefail

usage='usage: bash bench/before.sh <commit> [directory]'
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --verify --quiet "${1:?$usage}^{commit}") || {
  echo "before.sh: $1 is not a commit of $repo" >&2
  exit 2
}
dir=$(realpath -m "${2:-${TMPDIR:-/tmp}/express-async-api-${commit:0:12}}")
case "$dir/" in
  "$repo"/*) echo "before.sh: $dir is inside the repository; give a directory outside it" >&2; exit 2 ;;
esac

# Made by an earlier run for the same commit: its marker is written last, after the build.
if [[ -f "$dir/.bench-before" ]]; then
  if [[ $(cat "$dir/.bench-before") != "$commit" ]]; then
    echo "before.sh: $dir holds a build of $(cat "$dir/.bench-before"), not of $commit" >&2
    exit 2
  fi
  echo "$dir"
  exit 0
fi
if [[ -e "$dir" ]]; then
  echo "before.sh: $dir exists and is not a build of this script; remove it or give another directory" >&2
  exit 2
fi

# Built beside its final place and moved there once complete, so an interrupted run leaves
# no directory that a later run would take for a build.
partial=$(mktemp -d "$dir.partial.XXXXXX")
trap 'rm -rf "$partial"' EXIT
git -C "$repo" archive --format=tar "$commit" | tar -x -C "$partial"
(
  cd "$partial"
  echo "before.sh: npm ci and npm run build of ${commit:0:12} in $dir" >&2
  npm ci --no-audit --no-fund --prefer-offline >&2
  npm run build >&2
)
echo "$commit" >"$partial/.bench-before"
mv "$partial" "$dir"
trap - EXIT
echo "$dir"
