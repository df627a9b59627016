#!/usr/bin/env bash
# Fetches the user-mode Linux kernel that the UML test tier boots, into build/uml-kernel (not installed system-wide).
#
# Why not bookworm's user-mode-linux (6.1): on hosts whose CPUs have a large XSAVE area (AVX-512 with AMX tiles,
# e.g. Xeon Sapphire Rapids) its guest init dies at once with "userspace - ptrace set fp regs failed, errno = 14":
# the kernel's PTRACE_SETREGSET(NT_X86_XSTATE) wants the host's whole XSAVE size and UML 6.1 (and trixie's 6.12)
# pass a smaller buffer. Debian unstable's user-mode-linux (7.x) sizes it from the host and boots on both Intel and
# AMD. It needs a newer glibc than bookworm's, so unstable's libc6 is unpacked beside it and linux.uml is pointed at
# that loader with patchelf; nothing on the system changes. Both come from Debian's archive through apt.
set -euo pipefail
DEST=${1:-build/uml-kernel}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
if [ -x "$DEST/linux.uml" ] && [ -d "$DEST/root/usr/lib/uml/modules" ] && "$DEST/linux.uml" --version >/dev/null 2>&1; then
  exit 0
fi
command -v patchelf >/dev/null || { echo "uml-kernel: patchelf missing (make deps installs it)" >&2; exit 1; }
APT="$DEST/apt"
rm -rf "$APT" "$DEST/root" "$DEST/linux.uml"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$DEST/root"
echo "deb http://deb.debian.org/debian sid main" >"$APT/sources.list"
opts=(-q -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT/cache" -o APT::Sandbox::User=root)
echo "uml-kernel: fetching user-mode-linux and libc6 from Debian unstable into $DEST"
apt-get "${opts[@]}" update >/dev/null
(cd "$APT/debs" && apt-get "${opts[@]}" download user-mode-linux libc6 >/dev/null)
for d in "$APT"/debs/*.deb; do dpkg-deb -x "$d" "$DEST/root"; done
LIB="$DEST/root/usr/lib/x86_64-linux-gnu"
cp "$DEST/root/usr/bin/linux.uml" "$DEST/linux.uml.tmp"
patchelf --set-interpreter "$LIB/ld-linux-x86-64.so.2" --set-rpath "$LIB" "$DEST/linux.uml.tmp"
mv "$DEST/linux.uml.tmp" "$DEST/linux.uml"
rm -rf "$APT/lists" "$APT/cache" "$DEST/root/usr/share/doc"
ls "$DEST/root/usr/lib/uml/modules" >"$DEST/VERSION"
echo "uml-kernel: linux.uml $(cat "$DEST/VERSION") ready ($(cd "$APT/debs" && echo *.deb))"
