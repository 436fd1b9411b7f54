#!/usr/bin/env bash
# Install podvlan on a node as a kubelet exec network plugin, or (--cni) as a CNI plugin.
#
# Exec mode puts the executable (and a config beside it) into <plugin-dir>/<name>/, where <name>
# is "podvlan", or "VENDOR~podvlan" with --vendor, then (unless --no-check) runs the installed
# `podvlan init` against that config and prints the kubelet flags that select the plugin.
# CNI mode puts the executable into <cni-bin-dir>/podvlan and a conflist into <cni-conf-dir>
# (the one given with --conflist, or one written from the flags), then (unless --no-check) asks
# the installed executable for CNI VERSION.
# See --help. No eval, every expansion quoted; safe to run again (each file is replaced
# atomically, so a kubelet or runtime calling the plugin meanwhile sees the old or the new file, whole).
set -euo pipefail

readonly PROG=install-node.sh
readonly PLUGIN=podvlan
readonly VENDOR_RE='^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'
readonly DEFAULT_PLUGIN_DIR=/usr/libexec/kubernetes/kubelet-plugins/net/exec
readonly DEFAULT_CNI_BIN_DIR=/opt/cni/bin
readonly DEFAULT_CNI_CONF_DIR=/etc/cni/net.d
# The key that marks a conflist this script wrote (a conflist has no comments; libcni and podman
# ignore unknown top-level keys): such a file it replaces, any other only with --force.
readonly CNI_MARKER_KEY=podvlanInstalledBy
readonly CNI_MARKER_VALUE='install-node.sh --cni; it replaces this file when run again. Remove this key to keep your edits.'
# CNI values written into the JSON as they are: each pattern excludes quotes and backslashes.
readonly NETWORK_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'
readonly BRIDGE_RE='^[A-Za-z0-9_.-]{1,15}$'
readonly OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
readonly IPV4_RE="^$OCTET(\\.$OCTET){3}\$"
readonly PREFIX_RE='^([0-9]|[12][0-9]|3[0-2])$'
readonly SAFE_PATH_RE='^/[A-Za-z0-9._/+-]*$'

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
binary="$repo_root/dist/podvlan"
plugin_dir="$DEFAULT_PLUGIN_DIR"
vendor=""
config=""
check=1
cni=0
force=0
cni_bin_dir="$DEFAULT_CNI_BIN_DIR"
cni_conf_dir="$DEFAULT_CNI_CONF_DIR"
conflist=""
network=podvlan
bridge=br-pods
datapath_type=system
vlan=""
subnet=""
gateway=""
node_config=""
exec_option="" # the last exec-only option given, to refuse it with --cni
cni_option=""  # the last CNI-only option given, to refuse it without --cni

usage() {
  cat <<EOF
Usage: $PROG [options]
       $PROG --cni [CNI options]

Install the podvlan executable and its config into a kubelet exec network-plugin directory;
with --cni, into a CNI plugin directory, with a conflist, instead.

Options:
  --binary PATH      executable to install (default: dist/podvlan of this repository)
  --no-check         do not check the installed executable afterwards (see below)
  -h, --help         show this help

Exec options:
  --plugin-dir DIR   kubelet exec plugin directory, absolute
                     (default: $DEFAULT_PLUGIN_DIR)
  --vendor NAME      install as NAME/podvlan: directory NAME~podvlan/ (NAME: lowercase
                     letters, digits, '-' and '.'; starts and ends with a letter or digit)
  --config FILE      config to install as podvlan.yaml beside the executable (mode 0600).
                     Without it an existing podvlan.yaml is kept, and if there is none a
                     commented example is written (it selects no network until edited)
  The check runs '<installed executable> --config <config> init': it validates the config,
  needs OVSDB to answer, and creates any configured bridge that does not exist yet.

CNI options:
  --cni              install <cni-bin-dir>/podvlan and a conflist in <cni-conf-dir>
  --cni-bin-dir DIR  CNI plugin directory, absolute (default: $DEFAULT_CNI_BIN_DIR)
  --cni-conf-dir DIR CNI config directory, absolute (default: $DEFAULT_CNI_CONF_DIR)
  --conflist FILE    install this conflist, as it is, under its own file name; without it,
                     10-NETWORK.conflist is written from the options below: one podvlan
                     plugin on one VLAN, with podvlan's own host-local IPAM when --subnet
  --network NAME     network name (default: podvlan)
  --bridge NAME      OVS bridge, made on the first ADD if missing (default: br-pods)
  --datapath-type T  system or netdev (default: system)
  --vlan ID          the network's VLAN tag, 1-4094 (needed without --conflist)
  --subnet CIDR      give pods addresses of this IPv4 subnet (default: no address)
  --gateway IP       the subnet's gateway, a default route in the pods (needs --subnet)
  --node-config FILE a podvlan.yaml with the node-wide keys (ovsdb, stateDir, logFile, etcd,
                     nodeName); without it podvlan reads /etc/podvlan/podvlan.yaml if present
  --force            replace a conflist of that name that this script did not write
  A conflist this script wrote has the top-level key "$CNI_MARKER_KEY"; running the script
  again replaces such a file. Remove the key to keep your edits: the script then refuses to
  replace the file without --force. The check runs 'CNI_COMMAND=VERSION <installed executable>'.

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
    --cni) cni=1; shift; continue ;;
    --force) force=1; cni_option="$opt"; shift; continue ;;
    --*=*) value="${opt#*=}"; opt="${opt%%=*}"; shift ;;
    --binary|--plugin-dir|--vendor|--config|--cni-bin-dir|--cni-conf-dir|--conflist|--network|--bridge|\
    --datapath-type|--vlan|--subnet|--gateway|--node-config)
      (($# >= 2)) || usage_error "option $opt needs a value"
      value="$2"; shift 2 ;;
    *) usage_error "unknown argument '$opt'" ;;
  esac
  [[ -n "$value" ]] || usage_error "option $opt needs a non-empty value"
  case "$opt" in
    --binary) binary="$value" ;;
    --plugin-dir) plugin_dir="$value"; exec_option="$opt" ;;
    --vendor) vendor="$value"; exec_option="$opt" ;;
    --config) config="$value"; exec_option="$opt" ;;
    --cni-bin-dir) cni_bin_dir="$value"; cni_option="$opt" ;;
    --cni-conf-dir) cni_conf_dir="$value"; cni_option="$opt" ;;
    --conflist) conflist="$value"; cni_option="$opt" ;;
    --network) network="$value"; cni_option="$opt" ;;
    --bridge) bridge="$value"; cni_option="$opt" ;;
    --datapath-type) datapath_type="$value"; cni_option="$opt" ;;
    --vlan) vlan="$value"; cni_option="$opt" ;;
    --subnet) subnet="$value"; cni_option="$opt" ;;
    --gateway) gateway="$value"; cni_option="$opt" ;;
    --node-config) node_config="$value"; cni_option="$opt" ;;
    *) usage_error "unknown option '$opt'" ;;
  esac
done
if ((cni)) && [[ -n "$exec_option" ]]; then usage_error "$exec_option is an exec-mode option, not one for --cni"; fi
if ((!cni)) && [[ -n "$cni_option" ]]; then usage_error "$cni_option needs --cni"; fi

# ---- shared helpers -----------------------------------------------------------------------
# The directory option $1's value $2, absolute, without trailing slashes (printed).
absolute_dir() {
  local name="$1" dir="$2"
  case "$dir" in
    /*) ;;
    *) usage_error "$name must be an absolute path, not '$dir'" ;;
  esac
  [[ "$dir" != *$'\n'* ]] || usage_error "$name must not contain a newline"
  while [[ "$dir" == */ && "$dir" != / ]]; do dir="${dir%/}"; done
  printf '%s' "$dir"
}

check_binary() {
  if [[ ! -e "$binary" ]]; then
    die "executable not found: $binary (build it with 'npm run build', or pass --binary PATH)"
  fi
  [[ -f "$binary" && -r "$binary" && -s "$binary" ]] || die "not a readable, non-empty file: $binary"
}

make_dir() {
  local err
  # shellcheck disable=SC2174 # only the directory itself needs mode 0755
  if ! err=$(mkdir -p -m 0755 -- "$1" 2>&1); then die "cannot create $1: ${err##*: }"; fi
}

tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -f -- "$tmp"; fi; }
trap cleanup EXIT

# Write $1 (a file, or - for stdin) to $2 with mode $3: a temp file in the same directory, then
# rename over the target. A running podvlan keeps its old inode; nobody sees half a file.
install_atomic() {
  local src="$1" dest="$2" mode="$3" err made
  if ! made=$(mktemp "${dest%/*}/.$PLUGIN-install.XXXXXX" 2>&1); then
    die "cannot write in ${dest%/*}: ${made##*: }"
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

# ---- CNI mode -----------------------------------------------------------------------------
check_cni_flags() {
  [[ "$network" =~ $NETWORK_RE ]] ||
    usage_error "invalid --network '$network': up to 63 letters, digits, '_', '.', '-', starting with a letter or digit"
  [[ "$bridge" =~ $BRIDGE_RE ]] || usage_error "invalid --bridge '$bridge': up to 15 letters, digits, '_', '.', '-'"
  [[ "$datapath_type" == system || "$datapath_type" == netdev ]] ||
    usage_error "invalid --datapath-type '$datapath_type': system or netdev"
  [[ -n "$vlan" ]] || usage_error "--cni needs --vlan ID, or --conflist FILE"
  if [[ ! "$vlan" =~ ^[1-9][0-9]{0,3}$ ]] || ((vlan > 4094)); then usage_error "invalid --vlan '$vlan': 1-4094"; fi
  if [[ -n "$subnet" ]] && [[ ! "${subnet%/*}" =~ $IPV4_RE || "$subnet" != */* || ! "${subnet##*/}" =~ $PREFIX_RE ]]; then
    usage_error "invalid --subnet '$subnet': an IPv4 CIDR such as 10.20.0.0/16"
  fi
  if [[ -n "$gateway" ]]; then
    [[ -n "$subnet" ]] || usage_error "--gateway needs --subnet"
    [[ "$gateway" =~ $IPV4_RE ]] || usage_error "invalid --gateway '$gateway': an IPv4 address"
  fi
  if [[ -n "$node_config" && ! "$node_config" =~ $SAFE_PATH_RE ]]; then
    usage_error "invalid --node-config '$node_config': an absolute path of letters, digits and '._/+-'"
  fi
}

# The conflist of the flags (checked by check_cni_flags: nothing in them needs JSON escaping).
write_conflist() {
  local extra=""
  if [[ -n "$subnet" ]]; then
    extra+=$',\n      "ipam": {"type": "podvlan", "pool": {"type": "host-local", "subnet": "'"$subnet"'"'
    if [[ -n "$gateway" ]]; then extra+=', "gateway": "'"$gateway"'"'; fi
    extra+='}}'
  fi
  if [[ -n "$node_config" ]]; then extra+=$',\n      "nodeConfig": "'"$node_config"'"'; fi
  cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$network",
  "$CNI_MARKER_KEY": "$CNI_MARKER_VALUE",
  "plugins": [
    {
      "type": "$PLUGIN",
      "bridge": "$bridge",
      "datapathType": "$datapath_type",
      "vlan": {"id": $vlan}$extra
    }
  ]
}
EOF
}

install_cni() {
  local dest_exe dest_conf staged out
  cni_bin_dir=$(absolute_dir --cni-bin-dir "$cni_bin_dir")
  cni_conf_dir=$(absolute_dir --cni-conf-dir "$cni_conf_dir")
  if [[ -n "$conflist" ]]; then
    [[ -e "$conflist" ]] || die "conflist not found: $conflist"
    [[ -f "$conflist" && -r "$conflist" ]] || die "conflist is not a readable file: $conflist"
    dest_conf="$cni_conf_dir/${conflist##*/}"
  else
    check_cni_flags
    dest_conf="$cni_conf_dir/10-$network.conflist"
  fi
  check_binary
  dest_exe="$cni_bin_dir/$PLUGIN"
  if [[ -e "$cni_bin_dir" && ! -d "$cni_bin_dir" ]]; then die "$cni_bin_dir exists and is not a directory"; fi
  if [[ -e "$cni_conf_dir" && ! -d "$cni_conf_dir" ]]; then die "$cni_conf_dir exists and is not a directory"; fi
  if [[ -d "$dest_exe" ]]; then die "$dest_exe is a directory; remove it first"; fi
  if [[ -d "$dest_conf" ]]; then die "$dest_conf is a directory; remove it first"; fi

  # The conflist is staged first, so that a refusal changes nothing at all.
  staged=$(mktemp) || die "cannot create a temporary file"
  tmp="$staged"
  if [[ -n "$conflist" ]]; then
    cp -- "$conflist" "$staged" 2>/dev/null || die "cannot read $conflist"
  else
    write_conflist >"$staged"
  fi
  if [[ -e "$dest_conf" ]] && ! cmp -s -- "$staged" "$dest_conf" && ((!force)) &&
    ! grep -qF -- "\"$CNI_MARKER_KEY\": \"install-node.sh --cni" "$dest_conf"; then
    die "$dest_conf exists and was not written by $PROG: pass --force to replace it"
  fi

  make_dir "$cni_bin_dir"
  make_dir "$cni_conf_dir"
  if [[ -f "$dest_exe" ]] && cmp -s -- "$binary" "$dest_exe"; then
    echo "kept $dest_exe (already this executable)"
  else
    install_atomic "$binary" "$dest_exe" 0755
    echo "installed $dest_exe (mode 0755)"
  fi
  if [[ -f "$dest_conf" ]] && cmp -s -- "$staged" "$dest_conf"; then
    echo "kept $dest_conf (unchanged)"
  else
    install_atomic "$staged" "$dest_conf" 0644
    if [[ -n "$conflist" ]]; then
      echo "installed $dest_conf from $conflist (mode 0644)"
    else
      echo "wrote $dest_conf (mode 0644): network $network, bridge $bridge, VLAN $vlan${subnet:+, addresses of $subnet}"
    fi
  fi
  rm -f -- "$staged"
  tmp=""

  if ((check)); then
    if out=$(CNI_COMMAND=VERSION "$dest_exe" </dev/null 2>&1) && [[ "$out" == *supportedVersions* ]]; then
      printf 'check passed: %s\n' "$out"
    else
      die "check failed: CNI_COMMAND=VERSION $dest_exe answered: ${out:-(nothing)}"
    fi
  fi
  echo
  echo "CNI runtimes (containerd, CRI-O, podman, Multus) read the network from $cni_conf_dir;"
  echo "their CNI plugin path must include $cni_bin_dir."
}

if ((cni)); then
  install_cni
  exit 0
fi

# ---- exec mode: validation (nothing is changed before all of it passes) -------------------
plugin_dir=$(absolute_dir --plugin-dir "$plugin_dir")

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

check_binary
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

# ---- exec mode: install -------------------------------------------------------------------
make_dir "$dest_dir"

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
