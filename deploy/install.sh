#!/bin/bash
# Installs the vlan-bridge executable into a CNI plugin directory: atomically, and only when it differs; or, with
# --uninstall, removes it, only if it is ours.
#
#   install.sh [--src FILE] [--dest DIR] [--name NAME]
#   install.sh --uninstall [--src FILE] [--dest DIR] [--name NAME] [--ignore-attachments]
#
#   --src FILE  the executable to install (default /opt/vlan-bridge/vlan-bridge, where deploy/Containerfile puts it)
#   --dest DIR  the CNI plugin directory (default /host/opt/cni/bin: the node's /opt/cni/bin as deploy/daemonset.yaml
#               mounts it); it must exist
#   --name NAME the installed file's name (default: the source's file name, vlan-bridge)
#   --uninstall remove DIR/NAME if it is ours: the same SHA-256 as FILE, or else an executable that says it is
#               vlan-bridge (its about line); anything else is left alone
#   --ignore-attachments  with --uninstall: remove it even while this node has pods attached by the plugin
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
# Uninstalling is careful in the same ways: under the same lock, so never in the middle of an install; only a file
# that is ours (another program of that name, such as the reference `bridge` plugin, is never removed); one
# unlink(2), so a runtime finds the whole file or none; and not while the node still has attachments the plugin
# made (host veths whose ifalias starts with `vlan-bridge:`, seen with `ip` when it is installed), since a pod's
# DEL needs the plugin: without it the runtime cannot tear the pod's network down. What the plugin made and shares
# (bridges, the `<bridge>.<vlan>` gateways, its nftables tables, a log file) is left alone and listed.
#
# Exit codes: 0 installed, up to date, removed or nothing to remove; 1 a failure or a refusal (the message says
# what); 2 a usage error.
set -euo pipefail

PROG=vlan-bridge-install
src=/opt/vlan-bridge/vlan-bridge
dest=/host/opt/cni/bin
name=
tmp=
mode=install
ignore_attachments=
src_given=

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '5,15s/^# \{0,1\}//p' "$0"; }
usage_error() { printf '%s: %s\n' "$PROG" "$*" >&2; usage >&2; exit 2; }

while (($#)); do
  case $1 in
    --src | --dest | --name)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in --src) src=$2; src_given=1 ;; --dest) dest=$2 ;; --name) name=$2 ;; esac
      shift 2
      ;;
    --src=*) src=${1#*=}; src_given=1; shift ;;
    --dest=*) dest=${1#*=}; shift ;;
    --name=*) name=${1#*=}; shift ;;
    --uninstall) mode=uninstall; shift ;;
    --ignore-attachments) ignore_attachments=1; shift ;;
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

if [[ -n $ignore_attachments && $mode != uninstall ]]; then usage_error "--ignore-attachments goes with --uninstall"; fi
if [[ $mode == install || -n $src_given ]]; then
  [[ -e $src ]] || die "source $src does not exist"
  [[ -f $src ]] || die "source $src is not a regular file"
  [[ -r $src ]] || die "source $src is not readable"
  [[ -s $src ]] || die "source $src is empty"
fi
if [[ $mode == uninstall && ! -e $dest ]]; then
  log "found no directory $dest: nothing to remove"
  exit 0
fi
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

# The uninstall: $target is removed only when it is ours, and not while this node has attachments.
uninstall() {
  if [[ ! -e $target && ! -L $target ]]; then
    log "found no $target: nothing to remove"
    return 0
  fi
  [[ -f $target && ! -L $target ]] || die "$target is not a regular file: left alone"
  local sum ours=
  sum=$(sha256 "$target") || die "cannot read $target"
  # Identified by its bytes, never by running it: a file planted under our name must not run as root here.
  if [[ -n $src_given ]] && [[ $sum == "$(sha256 "$src")" ]]; then
    ours="the same sha256 as $src"
  elif grep -aqF -- '---- Bun! ----' "$target" && grep -aqF -- 'CNI vlan-bridge plugin' "$target"; then
    ours="a vlan-bridge executable (a Bun executable carrying vlan-bridge's about line)"
  else
    die "$target (sha256 $sum) is not vlan-bridge: left alone"
  fi
  log "found $target: $ours"
  if [[ -z $ignore_attachments ]]; then
    if command -v ip >/dev/null; then
      local attached
      # Pods' host veths; not the <bridge>.<vlan> gateway pairs (alias vlan-bridge:<net>:_gateway:...), which DEL
      # leaves by design and which need no plugin to go.
      attached=$(ip -o link show 2>/dev/null | grep '\\    alias vlan-bridge:' | grep -cv ':_gateway:' || true)
      if ((attached > 0)); then
        die "this node has $attached attachment(s) made by the plugin (host veths with ifalias vlan-bridge:...);" \
          "their pods' DEL needs it: remove those pods and the networks that use it first, or pass --ignore-attachments"
      fi
      log "no attachments of the plugin on this node"
    else
      log "ip is not installed: not checking for attachments of the plugin"
    fi
  fi
  rm -f -- "$target" || die "removing $target failed"
  sync -- "$dest" || log "warning: fsync of the directory $dest failed; the removal may not survive a power loss"
  log "removed $target (sha256 $sum)"
  log "left in place: what the plugin made and its networks share (bridges, <bridge>.<vlan> gateway pairs," \
    "the nftables tables inet cni_plugins_masquerade and bridge nat with their base chains, shared with the reference" \
    "plugin) and log files its configs name"
}

if [[ $mode == uninstall ]]; then
  uninstall
  exit 0
fi

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
