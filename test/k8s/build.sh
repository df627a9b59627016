#!/usr/bin/env bash
# Builds the Kubernetes tier's Go parts, offline, from the tagged trees in ../shared/vendor with Debian unstable's
# Go 1.26 in build/go (`make deps`), each into build/k8s/<name>:
#   build/k8s/multus   Multus v4.3.0's thin plugin (./cmd/multus of multus-cni-v4.3.0.tar.gz): the CNI config of
#                      containerd's CRI plugin, which reads pods and NetworkAttachmentDefinitions from the API server
#   build/k8s/crictl   crictl of cri-tools v1.36.0 (./cmd/crictl of cri-tools-v1.36.0.tar.gz): the CRI client that
#                      stands in for kubelet
# Both are static (CGO_ENABLED=0; -s -w: no symbol tables, a shorter link): Multus also runs inside the UML kernel.
# Each is rebuilt only when its stamp (build/k8s/<name>.stamp: the tarball's sha256, Go's version, this script)
# changes; Go's cache stays in build/k8s/cache. An flock on build/k8s/lock lets test/run.mjs start this in the background while other tiers run
# and the tier run it again to wait for that build (the second run finds the stamps and does nothing).
#
#   test/k8s/build.sh [multus|crictl]...     (default: both)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENDOR="${K8S_VENDOR_DIR:-$ROOT/../shared/vendor}"
OUT="$ROOT/build/k8s"
# shellcheck source=../lab/offline-go.sh
. "$ROOT/test/lab/offline-go.sh"

die() {
  echo "k8s/build.sh: $*" >&2
  exit 1
}

offline_go k8s/build.sh "$OUT"
exec 9>"$OUT/lock"
flock 9

# build NAME TARBALL PACKAGE LDFLAGS: unpacks TARBALL into build/k8s/src/NAME and builds PACKAGE as build/k8s/NAME.
build() {
  local name=$1 tarball=$2 pkg=$3 ldflags=$4 src="$OUT/src/$1" stamp t0
  [ -f "$tarball" ] || die "$name's tagged tree is missing: $tarball (../shared/vendor beside the clone)"
  stamp=$({
    sha256sum "$tarball" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    cat "$ROOT/build/go/VERSIONS"
  } | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$OUT/$name.stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$OUT/$name" ]; then
    echo "k8s/build.sh: build/k8s/$name is up to date" >&2
    return
  fi
  rm -rf "$src" "$OUT/$name" "$OUT/$name.stamp"
  mkdir -p "$src"
  tar -xzf "$tarball" -C "$src"
  t0=$SECONDS
  (cd "$src" && go build -trimpath -ldflags "-s -w $ldflags" -o "$OUT/$name.tmp" "$pkg") || die "go build $pkg ($name) failed"
  mv -f "$OUT/$name.tmp" "$OUT/$name"
  echo "$stamp" >"$OUT/$name.stamp"
  rm -rf "$src"
  echo "k8s/build.sh: built build/k8s/$name ($(go env GOVERSION)) in $((SECONDS - t0)) s" >&2
}

# The version variables the projects' own builds set (multus-cni v4.3.0 hack/build-go.sh, cri-tools v1.36.0
# Makefile), so that `multus -version` and `crictl --version` name the tag.
MULTUS_PKG=gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/multus
for what in "${@:-multus crictl}"; do
  for w in $what; do
    case $w in
    multus)
      build multus "$VENDOR/multus-cni-v4.3.0.tar.gz" ./cmd/multus \
        "-X $MULTUS_PKG.version=v4.3.0 -X $MULTUS_PKG.commit=db30741512795c258b3ba383a571a66850e8baac -X $MULTUS_PKG.releaseStatus=,released"
      ;;
    crictl)
      build crictl "$VENDOR/cri-tools-v1.36.0.tar.gz" ./cmd/crictl "-X sigs.k8s.io/cri-tools/pkg/version.Version=1.36.0"
      ;;
    *) die "unknown part $w (multus, crictl)" ;;
    esac
  done
done
