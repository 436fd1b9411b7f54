#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs what is missing (Debian and npm
# packages), builds, then runs the demo, the tests or the benchmark on a private sandbox.
#   scripts/dev.sh demo | test | bench
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-}
case "$what" in demo|test|bench) ;; *) echo "usage: $0 demo|test|bench" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

# command -> Debian package providing it
declare -A need=(
  [ovsdb-server]=openvswitch-switch [ovs-vswitchd]=openvswitch-switch [dockerd]=docker.io [docker]=docker.io
  [ip]=iproute2 [nsenter]=util-linux [ping]=iputils-ping [etcd]=etcd-server [etcdctl]=etcd-client
  [tcpdump]=tcpdump [hyperfine]=hyperfine [tar]=tar [git]=git [openssl]=openssl [strace]=strace
  [go]=golang-go # builds the libcni caller of the CNI tests (test/support/libcni), offline
  [containerd]=containerd [ctr]=containerd # the CRI runtime of test/e2e/cri.test.ts and the bench (pulls in runc)
  [podman]=podman # the podman e2e test runs podvlan under podman's CNI backend
  [promtool]=prometheus # test/e2e/metrics.test.ts checks podvlan metrics' output (the server it also installs is not used)
  [dot]=graphviz [xmllint]=libxml2-utils # check topology's dot and SVG (tests only: podvlan draws its own SVG)
)
declare -A files=([/bin/busybox]=busybox-static [/usr/bin/time]=time [/usr/lib/cni/bridge]=containernetworking-plugins
  # libcni 1.1.2 sources, which the Go build above compiles against (GOPATH=/usr/share/gocode)
  [/usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go]=golang-github-appc-cni-dev
)
missing=()
for cmd in "${!need[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}"); done
for f in "${!files[@]}"; do [ -e "$f" ] || missing+=("${files[$f]}"); done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages' service scripts may fail to start daemons in a container; the sandbox starts its own.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# `npm install`, not `npm ci`: the lock this registry setup writes omits other platforms'
# optional packages (rollup, esbuild), which `npm ci` rejects as out of sync.
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi

case "$what" in
  demo) npm run build && node_modules/.bin/bun scripts/demo.ts ;;
  test) npm test ;;
  bench) npm run bench ;;
esac
