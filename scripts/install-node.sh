#!/usr/bin/env bash
# Install podvlan on a node as a kubelet exec network plugin.
#
# Puts the executable (and a config beside it) into <plugin-dir>/<name>/, where <name> is
# "podvlan", or "VENDOR~podvlan" with --vendor, then (unless --no-check) runs the installed
# `podvlan init` against that config and prints the kubelet flags that select the plugin.
# See --help. No eval, every expansion quoted; safe to run again (each file is replaced
# atomically, so a kubelet calling the plugin meanwhile sees the old or the new file, whole).
set -euo pipefail

readonly PROG=install-node.sh
readonly PLUGIN=podvlan
readonly VENDOR_RE='^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'
readonly DEFAULT_PLUGIN_DIR=/usr/libexec/kubernetes/kubelet-plugins/net/exec

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
binary="$repo_root/dist/podvlan"
plugin_dir="$DEFAULT_PLUGIN_DIR"
vendor=""
config=""
check=1

usage() {
  cat <<EOF
Usage: $PROG [options]

Install the podvlan executable and its config into a kubelet exec network-plugin directory.

Options:
  --binary PATH      executable to install (default: dist/podvlan of this repository)
  --plugin-dir DIR   kubelet exec plugin directory, absolute
                     (default: $DEFAULT_PLUGIN_DIR)
  --vendor NAME      install as NAME/podvlan: directory NAME~podvlan/ (NAME: lowercase
                     letters, digits, '-' and '.'; starts and ends with a letter or digit)
  --config FILE      config to install as podvlan.yaml beside the executable (mode 0600).
                     Without it an existing podvlan.yaml is kept, and if there is none a
                     commented example is written (it selects no network until edited)
  --no-check         do not run '<installed executable> --config <config> init' afterwards
                     (the check validates the config, needs OVSDB to answer, and creates
                     any configured bridge that does not exist yet)
  -h, --help         show this help

Exit status: 0 installed (and checked), 1 failed, 2 bad usage.
EOF
}

die() { printf '%s: %s\n' "$PROG" "$1" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$1" >&2; exit 2; }

# ---- arguments ----------------------------------------------------------------------------
while (($# > 0)); do
  opt="$1"
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --no-check) check=0; shift; continue ;;
    --binary=*|--plugin-dir=*|--vendor=*|--config=*)
      value="${opt#*=}"; opt="${opt%%=*}"; shift ;;
    --binary|--plugin-dir|--vendor|--config)
      (($# >= 2)) || usage_error "option $opt needs a value"
      value="$2"; shift 2 ;;
    *) usage_error "unknown argument '$opt'" ;;
  esac
  [[ -n "$value" ]] || usage_error "option $opt needs a non-empty value"
  case "$opt" in
    --binary) binary="$value" ;;
    --plugin-dir) plugin_dir="$value" ;;
    --vendor) vendor="$value" ;;
    --config) config="$value" ;;
  esac
done

# ---- validation (nothing is changed before all of it passes) -----------------------------
case "$plugin_dir" in
  /*) ;;
  *) usage_error "--plugin-dir must be an absolute path, not '$plugin_dir'" ;;
esac
[[ "$plugin_dir" != *$'\n'* ]] || usage_error "--plugin-dir must not contain a newline"
while [[ "$plugin_dir" == */ && "$plugin_dir" != / ]]; do plugin_dir="${plugin_dir%/}"; done

if [[ -n "$vendor" ]]; then
  if [[ ! "$vendor" =~ $VENDOR_RE ]] || ((${#vendor} > 253)); then
    usage_error "invalid vendor '$vendor': use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
  fi
  plugin_name="$vendor/$PLUGIN"
  dir_name="$vendor~$PLUGIN"
else
  plugin_name="$PLUGIN"
  dir_name="$PLUGIN"
fi

if [[ ! -e "$binary" ]]; then
  die "executable not found: $binary (build it with 'npm run build', or pass --binary PATH)"
fi
[[ -f "$binary" && -r "$binary" && -s "$binary" ]] || die "not a readable, non-empty file: $binary"
if [[ -n "$config" ]]; then
  [[ -e "$config" ]] || die "config not found: $config"
  [[ -f "$config" && -r "$config" ]] || die "config is not a readable file: $config"
fi

dest_dir="$plugin_dir/$dir_name"
dest_exe="$dest_dir/$PLUGIN"
dest_cfg="$dest_dir/podvlan.yaml"

if [[ -e "$dest_dir" && ! -d "$dest_dir" ]]; then die "$dest_dir exists and is not a directory"; fi
if [[ -d "$dest_exe" ]]; then die "$dest_exe is a directory; remove it first"; fi
if [[ -d "$dest_cfg" ]]; then die "$dest_cfg is a directory; remove it first"; fi

# ---- install ------------------------------------------------------------------------------
tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -f -- "$tmp"; fi; }
trap cleanup EXIT

# shellcheck disable=SC2174 # only the plugin's own directory needs mode 0755
if ! err=$(mkdir -p -m 0755 -- "$dest_dir" 2>&1); then
  die "cannot create $dest_dir: ${err##*: }"
fi

# Write $1 (a file, or - for stdin) to $2 with mode $3: a temp file in the same directory, then
# rename over the target. A running podvlan keeps its old inode; nobody sees half a file.
install_atomic() {
  local src="$1" dest="$2" mode="$3" err made
  if ! made=$(mktemp "$dest_dir/.$PLUGIN-install.XXXXXX" 2>&1); then
    die "cannot write in $dest_dir: ${made##*: }"
  fi
  tmp="$made"
  if [[ "$src" == - ]]; then
    cat >"$tmp" || die "cannot write $tmp"
  elif ! err=$(cp -- "$src" "$tmp" 2>&1); then
    die "cannot copy $src: ${err##*: }"
  fi
  chmod "$mode" "$tmp"
  if ! err=$(mv -f -T -- "$tmp" "$dest" 2>&1); then
    die "cannot replace $dest: ${err##*: }"
  fi
  tmp=""
}

install_atomic "$binary" "$dest_exe" 0755
echo "installed $dest_exe (mode 0755)"

wrote_example=0
if [[ -n "$config" ]]; then
  install_atomic "$config" "$dest_cfg" 0600
  echo "installed $dest_cfg from $config (mode 0600)"
elif [[ -e "$dest_cfg" ]]; then
  echo "kept the existing $dest_cfg"
else
  install_atomic - "$dest_cfg" 0600 <<'EOF'
# podvlan config: example written by install-node.sh. It selects no network until you
# uncomment and adapt the part below. Every key, its type and default: docs/config.md.
# Check it with: <this directory>/podvlan --config <this file> init

# ovsdb: unix:/var/run/openvswitch/db.sock   # or tcp:HOST:PORT
# logFile: /var/log/podvlan.log               # JSON lines, mode 0600
# stateDir: /var/lib/podvlan                  # leases, per-pod records
# timeoutMs: 10000                            # per call, for OVSDB, Docker, ip and locks
# runtime:
#   docker:
#     socket: /var/run/docker.sock

# networks:
#   # A pod named vlan<N>-<anything> gets eth1 as an access port on VLAN N of br-pods.
#   - name: tenant
#     bridge: br-pods                  # created by `podvlan init` if missing
#     datapathType: system             # netdev for the userspace datapath
#     interface: eth1
#     mtu: 1500
#     primary: true                    # `status` reports this network's address
#     match:
#       namespace: '^(team-a|team-b)$' # unanchored regular expressions: add ^ and $
#     vlan:
#       fromPodName: '^vlan(\d+)-'     # first capture group is the VLAN id (1-4094)
#       range: "20-99"                 # optional: the tags pod names may give (default: any
#                                      # that no other network on the bridge declares)
#     ipam:
#       type: host-local
#       subnet: 10.20.0.0/16
#       rangeStart: 10.20.1.10
#       rangeEnd: 10.20.1.250
#       gateway: 10.20.0.1
#       routes:
#         - dst: 10.0.0.0/8            # via defaults to the gateway
EOF
  wrote_example=1
  echo "wrote an example config to $dest_cfg (mode 0600): edit it before use"
fi

# The example as written: its marker line, and nothing but comments and blank lines.
is_untouched_example() {
  grep -q '^# podvlan config: example written by install-node.sh' -- "$1" 2>/dev/null &&
    ! grep -qv -E '^[[:space:]]*(#.*)?$' -- "$1" 2>/dev/null
}

# ---- check --------------------------------------------------------------------------------
if ((check)); then
  if out=$("$dest_exe" --config "$dest_cfg" init 2>&1); then
    printf 'check passed: %s\n' "$out"
  else
    rc=$?
    printf '%s: check failed: %s --config %s init exited %d: %s\n' \
      "$PROG" "$dest_exe" "$dest_cfg" "$rc" "${out:-(no output)}" >&2
    if ((wrote_example)) || is_untouched_example "$dest_cfg"; then
      printf '%s: %s is still the commented example; edit it, then run this script again (the executable is installed)\n' \
        "$PROG" "$dest_cfg" >&2
    fi
    exit 1
  fi
elif ((wrote_example)) || is_untouched_example "$dest_cfg"; then
  echo "warning: $dest_cfg is only an example; the kubelet's init call fails until you edit it" >&2
fi

echo
echo "Kubelet flags:"
printf '  --network-plugin=%s --network-plugin-dir=%s\n' "$plugin_name" "$plugin_dir"
