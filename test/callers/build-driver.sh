#!/usr/bin/env bash
# Builds test/callers/libcni-driver (a libcni client, the library Multus, containerd and CRI-O call plugins with)
# into build/libcni-driver, offline, from Debian's packages: golang-go and golang-github-appc-cni-dev (libcni
# sources under /usr/share/gocode). Idempotent: does nothing when the binary is newer than its source and this
# script. Never commit the binary (build/ is gitignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/test/callers/libcni-driver"
OUT="$ROOT/build/libcni-driver"
GOCODE=/usr/share/gocode
LIBCNI="$GOCODE/src/github.com/containernetworking/cni/libcni"

die() {
  echo "build-driver.sh: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "Go is missing (Debian package golang-go): run \`make deps\`"
[ -f "$LIBCNI/api.go" ] || die "libcni sources are missing from $LIBCNI (Debian package golang-github-appc-cni-dev): run \`make deps\`"

if [ -x "$OUT" ] && [ "$OUT" -nt "$SRC/main.go" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ] && [ "$OUT" -nt "$LIBCNI/api.go" ]; then
  echo "build-driver.sh: $OUT is up to date" >&2
  exit 0
fi

mkdir -p "$ROOT/build/gopath"
tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# GOPATH mode (no modules, no proxy, no network): imports resolve from /usr/share/gocode only. No cgo, so the
# driver is static and needs no C toolchain.
(
  cd "$SRC"
  env GO111MODULE=off GOPATH="$ROOT/build/gopath:$GOCODE" GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
    GOCACHE="${GOCACHE:-$ROOT/build/go-cache}" \
    go build -trimpath -o "$tmp" .
) || die "go build failed (Go $(go env GOVERSION 2>/dev/null || echo '?'), libcni from $GOCODE)"
mv -f "$tmp" "$OUT"
echo "build-driver.sh: built $OUT" >&2
