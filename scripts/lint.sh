#!/usr/bin/env bash
# gofmt, go vet and staticcheck; staticcheck is installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
if ! command -v staticcheck >/dev/null; then
  GOBIN="$(go env GOPATH)/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 2>/dev/null \
    || GOBIN="$(go env GOPATH)/bin" go install honnef.co/go/tools/cmd/staticcheck@latest
  export PATH="$(go env GOPATH)/bin:$PATH"
fi
staticcheck ./...
echo "lint: clean"
