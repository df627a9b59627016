# Sourced by the tiers that build Go sources (test/conformance/build.sh, test/k8s/build.sh): Debian unstable's Go
# 1.26 from build/go (`make deps`), offline (vendor/ only, no proxy, no toolchain switch) and static (no C
# toolchain), with its cache, GOPATH and config (telemetry, env file) under the caller's build directory.
#
#   offline_go WHO OUT    dies as "WHO: ..." without Go or its sources; exports Go's environment for OUT/cache
offline_go() {
  local who=$1 out=$2 goroot="$ROOT/build/go/root/usr/lib/go-1.26"
  if [ ! -x "$goroot/bin/go" ]; then
    echo "$who: Go 1.26 is missing from $goroot (Debian unstable's golang-1.26-go): run \`make deps\`" >&2
    exit 1
  fi
  if [ ! -f "$goroot/src/runtime/proc.go" ]; then
    echo "$who: Go's sources are missing from $goroot/src (golang-1.26-src): run \`make deps\`" >&2
    exit 1
  fi
  mkdir -p "$out/cache/go-build" "$out/cache/gopath" "$out/cache/config"
  export GOROOT="$goroot" PATH="$goroot/bin:$PATH" GOFLAGS=-mod=vendor GOTOOLCHAIN=local GOPROXY=off \
    CGO_ENABLED=0 GOCACHE="$out/cache/go-build" GOPATH="$out/cache/gopath" XDG_CONFIG_HOME="$out/cache/config"
}
