#!/usr/bin/env bash
# Builds what the conformance tier runs, offline, from the tagged tree ../shared/vendor/containernetworking-plugins-
# v1.9.1.tar.gz (unpacked into build/conformance/src, never into the repository) with Debian unstable's Go 1.26 in
# build/go (`make deps`):
#   build/conformance/bridge-exec.test    the reference's bridge suite, its cmdAdd/cmdDel/cmdCheck/cmdStatus
#                                         redirected to the executable named by CONFORMANCE_PLUGIN (shim.go)
#   build/conformance/bridge-native.test  the same suite unmodified (the reference in process)
#   build/conformance/cni/bridge          the reference executable from the same tree: the tier's control
#   build/conformance/cni/host-local      the IPAM plugin the suite's configs name, found through CNI_PATH
# The redirect edits nothing in the tree: `go test -overlay` swaps bridge.go for a copy made here with the four
# handlers renamed refCmdAdd... and adds test/conformance/shim.go to the package. Idempotent: does nothing when
# build/conformance/stamp records the same tarball, Go, shim and script. Go's cache stays in build/conformance/cache
# (GOCACHE, GOPATH), so a rebuild after a change here recompiles only what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/conformance"
TARBALL="${CONFORMANCE_TARBALL:-$ROOT/../shared/vendor/containernetworking-plugins-v1.9.1.tar.gz}"
OUT="$ROOT/build/conformance"
SRC="$OUT/src"
# shellcheck source=../lab/offline-go.sh
. "$ROOT/test/lab/offline-go.sh"

die() {
  echo "conformance/build.sh: $*" >&2
  exit 1
}

offline_go conformance/build.sh "$OUT"
[ -f "$TARBALL" ] || die "the reference's tagged tree is missing: $TARBALL (../shared/vendor beside the clone)"

stamp=$(
  {
    sha256sum "$TARBALL" "$HERE/shim.go" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    cat "$ROOT/build/go/VERSIONS"
  } | sha256sum | cut -d' ' -f1
)
outputs=("$OUT/bridge-exec.test" "$OUT/bridge-native.test" "$OUT/cni/bridge" "$OUT/cni/host-local")
if [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ] && ls "${outputs[@]}" >/dev/null 2>&1; then
  echo "conformance/build.sh: build/conformance is up to date" >&2
  exit 0
fi

rm -rf "$SRC" "$OUT/stamp" "${outputs[@]}"
mkdir -p "$SRC" "$OUT/cni"
tar -xzf "$TARBALL" -C "$SRC"
BRIDGE="$SRC/plugins/main/bridge"
[ -f "$BRIDGE/bridge.go" ] && [ -f "$BRIDGE/bridge_test.go" ] || die "$TARBALL has no plugins/main/bridge"

# The reference's handlers, renamed (their definitions and main()'s table); the suite's calls then reach shim.go.
sed -E 's/\bcmd(Add|Del|Check|Status)\b/refCmd\1/g' "$BRIDGE/bridge.go" >"$OUT/bridge.go"
for h in Add Del Check Status; do
  grep -q "^func refCmd$h(args \*skel.CmdArgs) error {" "$OUT/bridge.go" || die "bridge.go has no cmd$h(args *skel.CmdArgs) to rename"
done
cat >"$OUT/overlay.json" <<EOF
{
  "Replace": {
    "$BRIDGE/bridge.go": "$OUT/bridge.go",
    "$BRIDGE/conformance_shim.go": "$HERE/shim.go"
  }
}
EOF

cd "$SRC"
t0=$SECONDS
go test -c -overlay "$OUT/overlay.json" -o "$OUT/bridge-exec.test" ./plugins/main/bridge || die "go test -c (overlay) failed"
go test -c -o "$OUT/bridge-native.test" ./plugins/main/bridge || die "go test -c failed"
go build -o "$OUT/cni/bridge" ./plugins/main/bridge || die "go build bridge failed"
go build -o "$OUT/cni/host-local" ./plugins/ipam/host-local || die "go build host-local failed"
echo "$stamp" >"$OUT/stamp"
echo "conformance/build.sh: built $(go env GOVERSION) suite and reference executables in $((SECONDS - t0)) s" >&2
