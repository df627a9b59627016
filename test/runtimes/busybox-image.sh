#!/usr/bin/env bash
# Builds a minimal container image from Debian's busybox, offline: nothing comes from a registry.
#
#   test/runtimes/busybox-image.sh DIR [NAME [COMMAND...]]
#
# DIR/rootfs     busybox with a link per applet in /bin, and the shared libraries it needs (Debian's busybox is
#                dynamically linked), usable as `podman run --rootfs DIR/rootfs` or `ctr run --rootfs`;
# DIR/image.tar  the same as an OCI image archive (one uncompressed layer) named NAME (default
#                localhost/vlan-bridge/busybox:1) whose command is COMMAND (default /bin/sh), for `ctr image import`
#                and `podman load`. The Kubernetes tier makes its pod sandbox ("pause") image this way, with a
#                command that sleeps.
#
# The archive is reproducible: the same busybox, name and command give the same digests.
set -euo pipefail

out=${1:?usage: busybox-image.sh DIR [NAME [COMMAND...]]}
NAME=${2:-localhost/vlan-bridge/busybox:1}
shift $(($# < 2 ? $# : 2))
[ $# -gt 0 ] || set -- /bin/sh
# The command as a JSON array (jq quotes each argument).
cmd=$(jq -cn '$ARGS.positional' --args "$@")
bb=$(command -v busybox) || {
  echo "busybox-image.sh: busybox is missing (Debian package busybox): run \`make deps\`" >&2
  exit 1
}

rm -rf "$out/rootfs" "$out/oci" "$out/image.tar"
root=$out/rootfs
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,run,www}
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# The loader and libraries, at the paths the binary names (ldd prints "lib => /path (addr)" or "/path (addr)").
ldd "$bb" | grep -o '/[^ ]*' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'vlan-bridge test page' >"$root/www/index.html"

# OCI image layout: blobs named by their sha256, a config, a manifest, an index naming the image.
oci=$out/oci
mkdir -p "$oci/blobs/sha256"
blob() { # FILE MEDIATYPE: moves FILE into the blob store, prints its descriptor
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$oci/blobs/sha256/$sum"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$sum" "$size"
}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$out/layer.tar" .
diff_id=$(sha256sum "$out/layer.tar" | cut -d' ' -f1)
layer=$(blob "$out/layer.tar" application/vnd.oci.image.layer.v1.tar)
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$(dpkg --print-architecture)" "$cmd" "$diff_id" >"$out/config.json"
config=$(blob "$out/config.json" application/vnd.oci.image.config.v1+json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
  "$config" "$layer" >"$out/manifest.json"
manifest=$(blob "$out/manifest.json" application/vnd.oci.image.manifest.v1+json)
# containerd names the image from io.containerd.image.name, podman from org.opencontainers.image.ref.name.
printf '{"schemaVersion":2,"manifests":[%s]}' \
  "${manifest%\}},\"annotations\":{\"io.containerd.image.name\":\"$NAME\",\"org.opencontainers.image.ref.name\":\"$NAME\"}}" \
  >"$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$oci" -cf "$out/image.tar" .
rm -rf "$oci"
echo "$NAME"
