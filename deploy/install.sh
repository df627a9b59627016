#!/bin/bash
# Installs the vlan-bridge executable into a CNI plugin directory: atomically, and only when it differs.
#
#   install.sh [--src FILE] [--dest DIR] [--name NAME]
#
#   --src FILE  the executable to install (default /opt/vlan-bridge/vlan-bridge, where deploy/Containerfile puts it)
#   --dest DIR  the CNI plugin directory (default /host/opt/cni/bin: the node's /opt/cni/bin as deploy/daemonset.yaml
#               mounts it); it must exist
#   --name NAME the installed file's name (default: the source's file name, vlan-bridge)
#
# "Differs" is decided on the SHA-256 of the two files, not on the version the plugin prints: a rebuild keeps the
# version string (package.json's) but not the bytes, and a truncated or foreign file at the destination has to be
# replaced whatever it would print, which would also mean running it. The version is only logged.
#
# A replacement is written to a temporary file in DIR itself (so the rename never crosses a filesystem), checked
# against the source's SHA-256, made 0755, fsynced, renamed over DIR/NAME and the directory fsynced: a runtime
# looking up DIR/NAME sees the old file or the new one, never a partial one. The temporary file's name starts with a
# dot, so it is never taken for a plugin; it is removed on any exit, and one left by a killed run is removed by the
# next. Concurrent runs on one node (two pods of a rollout) are serialised by a lock on DIR.
#
# Exit codes: 0 installed or already up to date, 1 a failure (the message says what), 2 a usage error.
set -euo pipefail

PROG=vlan-bridge-install
src=/opt/vlan-bridge/vlan-bridge
dest=/host/opt/cni/bin
name=
tmp=

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '4,9s/^# \{0,1\}//p' "$0"; }
usage_error() { printf '%s: %s\n' "$PROG" "$*" >&2; usage >&2; exit 2; }

while (($#)); do
  case $1 in
    --src | --dest | --name)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in --src) src=$2 ;; --dest) dest=$2 ;; --name) name=$2 ;; esac
      shift 2
      ;;
    --src=*) src=${1#*=}; shift ;;
    --dest=*) dest=${1#*=}; shift ;;
    --name=*) name=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

[[ -n $src ]] || usage_error "--src is empty"
[[ -n $dest ]] || usage_error "--dest is empty"
name=${name:-${src##*/}}
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "--name must be a plain file name (got \"$name\")"
case $src in */*) ;; *) src=./$src ;; esac # so that running it never searches PATH
dest=${dest%/}
dest=${dest:-/}
target=$dest/$name

for tool in sha256sum mktemp stat sync; do
  command -v "$tool" >/dev/null || die "$tool is not installed (coreutils is needed)"
done

[[ -e $src ]] || die "source $src does not exist"
[[ -f $src ]] || die "source $src is not a regular file"
[[ -r $src ]] || die "source $src is not readable"
[[ -s $src ]] || die "source $src is empty"
[[ -e $dest ]] || die "destination directory $dest does not exist"
[[ -d $dest ]] || die "destination $dest is not a directory"
[[ -w $dest ]] || die "destination directory $dest is not writable"
if [[ -d $target && ! -L $target ]]; then die "$target is a directory, not a plugin"; fi

sha256() { local sum; sum=$(sha256sum -- "$1") || return 1; printf '%s' "${sum%% *}"; }

# The plugin's about line ("CNI vlan-bridge plugin <version>" on stderr when CNI_COMMAND is unset), for the log only.
version_of() {
  local timeout=() line
  [[ -x $1 ]] || { printf 'version unknown: not executable'; return; }
  if command -v timeout >/dev/null; then timeout=("$(command -v timeout)" 10); fi
  line=$(env -i "${timeout[@]}" "$1" </dev/null 2>&1 >/dev/null | grep -m1 -E '^CNI .+ plugin ') || true
  printf '%s' "${line:-version unknown: no about line}"
}

if command -v flock >/dev/null; then
  exec 9<"$dest"
  if ! flock -n 9; then
    log "another installer holds the lock on $dest; waiting up to 120 s"
    flock -w 120 9 || die "the lock on $dest was not released within 120 s"
  fi
else
  log "flock is not installed: not locking $dest against a concurrent installer"
fi

# Under the lock, a temporary file of ours can only be left over by a run that was killed.
shopt -s nullglob
for stale in "$dest/.$name.tmp."*; do
  rm -f -- "$stale"
  log "removed $stale, left by an interrupted run"
done
shopt -u nullglob

src_sum=$(sha256 "$src") || die "cannot read $src"
log "source $src: sha256 $src_sum, $(version_of "$src")"

if [[ -e $target ]]; then
  cur_sum=$(sha256 "$target") || die "cannot read $target"
  if [[ $cur_sum == "$src_sum" ]]; then
    mode=$(stat -L -c %a -- "$target")
    if [[ $mode != 755 ]]; then
      chmod 0755 -- "$target" || die "cannot set the mode of $target to 0755"
      log "found $target with the same sha256 but mode $mode: set it to 0755; nothing else to do"
    else
      log "found $target with the same sha256: already up to date, nothing to do"
    fi
    exit 0
  fi
  log "found $target with sha256 $cur_sum: it differs, replacing it"
else
  log "found no $target: installing it"
fi

stopped() {
  if [[ -n $tmp ]]; then log "stopped by SIG$1 before the rename: $target is unchanged"; else log "stopped by SIG$1"; fi
  exit "$2"
}
trap 'if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi' EXIT
trap 'stopped TERM 143' TERM
trap 'stopped INT 130' INT
tmp=$(mktemp -- "$dest/.$name.tmp.XXXXXX") || die "cannot create a temporary file in $dest"
log "copying to the temporary file $tmp"
cp -- "$src" "$tmp" || die "copying $src to $tmp failed"
chmod 0755 -- "$tmp" || die "cannot set the mode of $tmp"
tmp_sum=$(sha256 "$tmp") || die "cannot read back $tmp"
[[ $tmp_sum == "$src_sum" ]] || die "the copy $tmp has sha256 $tmp_sum, not $src_sum"
sync -- "$tmp" || die "fsync of $tmp failed"
mv -fT -- "$tmp" "$target" || die "renaming $tmp to $target failed"
renamed=$tmp
tmp=
sync -- "$dest" || log "warning: fsync of the directory $dest failed; the rename may not survive a power loss"
log "renamed $renamed to $target: installed, sha256 $src_sum, mode 0755"
