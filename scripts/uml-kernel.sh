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
rm -rf "$DEST/linux.uml"
"$(dirname "$0")/unstable-debs.sh" "$DEST" user-mode-linux libc6
LIB="$DEST/root/usr/lib/x86_64-linux-gnu"
cp "$DEST/root/usr/bin/linux.uml" "$DEST/linux.uml.tmp"
patchelf --set-interpreter "$LIB/ld-linux-x86-64.so.2" --set-rpath "$LIB" "$DEST/linux.uml.tmp"
mv "$DEST/linux.uml.tmp" "$DEST/linux.uml"
ls "$DEST/root/usr/lib/uml/modules" >"$DEST/VERSION"
echo "uml-kernel: linux.uml $(cat "$DEST/VERSION") ready ($(paste -sd, "$DEST/VERSIONS"))"
