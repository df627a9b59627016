#!/usr/bin/env bash
# Unpacks Debian unstable packages into a private tree for the test tiers, without installing anything system-wide:
#   scripts/unstable-debs.sh DEST PACKAGE...
# leaves DEST/root (the packages' files, as dpkg-deb -x lays them) and DEST/VERSIONS ("package version" lines).
# Used for what bookworm has only in versions too old for the tests: the current reference plugins
# (containernetworking-plugins 1.9.1, whose Go executables run on bookworm) and a Go toolchain new enough to build
# the tagged trees in ../shared/vendor (golang-1.26-go and golang-1.26-src). Does nothing when DEST/VERSIONS already
# lists exactly these packages. Packages come from Debian's archive through apt, with a private apt config.
set -euo pipefail
DEST=${1:?usage: unstable-debs.sh DEST PACKAGE...}
shift
[ $# -gt 0 ] || { echo "unstable-debs: no package named" >&2; exit 2; }
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
if [ -f "$DEST/VERSIONS" ] && [ -d "$DEST/root" ] && [ "$(cut -d' ' -f1 "$DEST/VERSIONS" | sort | tr '\n' ' ')" = "$want" ]; then
  exit 0
fi
APT="$DEST/apt"
rm -rf "$APT" "$DEST/root" "$DEST/VERSIONS"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$DEST/root.tmp"
echo "deb http://deb.debian.org/debian sid main" >"$APT/sources.list"
opts=(-q -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT/cache" -o APT::Sandbox::User=root)
echo "unstable-debs: fetching $* from Debian unstable into $DEST"
apt-get "${opts[@]}" update >/dev/null
(cd "$APT/debs" && apt-get "${opts[@]}" download "$@" >/dev/null)
for d in "$APT"/debs/*.deb; do
  dpkg-deb -x "$d" "$DEST/root.tmp"
  echo "$(dpkg-deb -f "$d" Package) $(dpkg-deb -f "$d" Version)" >>"$DEST/VERSIONS.tmp"
done
rm -rf "$APT" "$DEST/root.tmp/usr/share/doc" "$DEST/root.tmp/usr/share/man"
mv "$DEST/root.tmp" "$DEST/root"
mv "$DEST/VERSIONS.tmp" "$DEST/VERSIONS"
echo "unstable-debs: $(paste -sd, "$DEST/VERSIONS") ready in $DEST/root"
