#!/bin/bash
# Manual debugging helper for the UML test tier (the automated runner is test/lab/uml.ts).
#   test/lab/uml-shell.sh                 interactive bash inside user-mode Linux (exit or Ctrl-D halts it)
#   test/lab/uml-shell.sh CMD [ARGS...]   run one command inside UML, print its output, exit with its status
# The guest's root is the host's / (hostfs), it starts in the repo root, with bridge/8021q/bonding/veth/dummy
# loaded. UML_MEM (MB, default 1024) sets guest memory. The console is this terminal.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# The kernel scripts/uml-kernel.sh unpacks (make deps), as test/lab/uml.ts uses it.
UML=${UML_BINARY:-$REPO/build/uml-kernel/linux.uml}
MODROOT=${UML_MODULES_ROOT:-$REPO/build/uml-kernel/root/usr/lib/uml/modules}
if [[ ! -x $UML || ! -d $MODROOT ]] || ! command -v modprobe >/dev/null; then
  echo "uml-shell: linux.uml, its modules or modprobe missing: run \`make deps\`" >&2
  exit 2
fi
VERSION=$(ls "$MODROOT" | head -n1)
D=$(mktemp -d "${TMPDIR:-/tmp}/vb-uml-XXXXXX")
UML_PID=
# linux.uml calls setsid() itself, so a Ctrl-C or kill aimed at this script's group never reaches it:
# kill its own group on the way out.
# (|| true: under set -e a failing command in the trap would replace the exit status.)
trap '[[ -z $UML_PID ]] || kill -KILL -- "-$UML_PID" 2>/dev/null || true; rm -rf "$D"' EXIT
mkdir -p "$D/lib/modules" && ln -s "$MODROOT/$VERSION" "$D/lib/modules/$VERSION"
if (($#)); then printf '%q ' "$@" >"$D/cmd"; else echo 'exec bash -i' >"$D/cmd"; fi
cat >"$D/init.sh" <<INIT
#!/bin/bash
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /run
mkdir -p /dev/shm /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount -t devpts devpts /dev/pts
for m in bridge 8021q bonding veth dummy; do modprobe -d '$D' \$m; done
ip link set lo up
export PATH='$(dirname "$(command -v node)")':/usr/sbin:/usr/bin:/sbin:/bin HOME=/root UML_GUEST=1 UML_WORK_DIR='$D' TERM=${TERM:-dumb}
cd '$REPO'
bash '$D/cmd' </dev/console >/dev/console 2>&1
echo \$? >'$D/exit-code'
sync
halt -f
INIT
chmod +x "$D/init.sh"
# 'quiet' keeps most kernel messages off the terminal. Started in the background (stdin passed explicitly,
# else bash gives background jobs /dev/null) so the trap above can kill it.
exec 3<&0
"$UML" umid="vb-shell-$$" uml_dir="$D" mem="${UML_MEM:-1024}M" root=/dev/root rootfstype=hostfs rootflags=/ rw \
  init="$D/init.sh" con=null con0=fd:0,fd:1 quiet <&3 &
UML_PID=$!
wait "$UML_PID" || true
exit "$(cat "$D/exit-code" 2>/dev/null || echo 125)"
