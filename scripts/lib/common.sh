# Shared by the entry-point scripts: install what is missing, reserve hugepages, build.
# Everything here is idempotent, so a second run is quick.

PCSCF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian 12 packages the project builds, tests and demonstrates with.
PCSCF_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libdpdk-dev libipsec-mb-dev libboost-program-options-dev
  libgtest-dev libbenchmark-dev libssl-dev liblmdb-dev libhiredis-dev libsystemd-dev libmnl-dev redis-server keepalived
  dpkg-dev debhelper help2man systemd man-db adduser
  python3-scapy python3-prometheus-client curl tshark sip-tester kamailio iproute2 ethtool iputils-ping procps
  nftables conntrack
  libpcap0.8 clang libbpf-dev clang-format-14 git
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, hugepages and apt-get need it)"
}

install_packages() {
  local missing=()
  for p in "${PCSCF_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --configure -a >/dev/null 2>&1 || true  # finish an install someone interrupted
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed"
  # The tests start their own Kamailio as the IMS core in a namespace; the package's
  # service, enabled on install, would hold the host's port 5060.
  if [[ " ${missing[*]} " == *" kamailio "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now kamailio >/dev/null 2>&1 || true
  fi
}

# Reserves 2 MiB hugepages (default 1024 = 2 GiB) if the kernel lets us; programs fall
# back to --no-huge when it does not, so this never fails the run.
reserve_hugepages() {
  local want=${PCSCF_HUGEPAGES:-1024} have
  have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
  if [ "$have" -lt "$want" ]; then
    echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
    have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
  fi
  if [ "$have" -gt 0 ]; then log "hugepages: $have x 2 MiB"
  else log "hugepages: none could be reserved; running with --no-huge"; fi
}

# The 2 MiB pages to ask for so that <mib> MiB fit in them: at most those reserved already
# plus half of the memory the kernel calls available (the rest of the machine keeps
# running), at least 1024.
hugepages_for() {
  local mib=$1 avail have
  avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
  have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
  local pages=$(( mib / 2 )) cap=$(( have + avail / 4 ))
  [ "$pages" -le "$cap" ] || pages=$cap
  [ "$pages" -ge 1024 ] || pages=1024
  echo "$pages"
}

# build <dir> [meson options...]: configure once, then build incrementally.
build() {
  local dir=$1; shift
  if [ ! -f "$PCSCF_ROOT/$dir/build.ninja" ]; then
    log "configuring $dir $*"
    meson setup "$PCSCF_ROOT/$dir" "$PCSCF_ROOT" "$@" >/dev/null || die "meson setup $dir failed"
  fi
  log "building $dir"
  ninja -C "$PCSCF_ROOT/$dir" >/dev/null || { ninja -C "$PCSCF_ROOT/$dir" | tail -40; die "build failed"; }
}
