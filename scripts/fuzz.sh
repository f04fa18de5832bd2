#!/usr/bin/env bash
# Runs every fuzz target of the module for a fixed time each (default 10s).
# `go test` alone runs their seed corpora; this explores beyond them. New
# failing inputs land in the package's testdata/fuzz/ and then run in every
# `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "== $pkg $name ($t)"
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$t" "$pkg"
	done
done
