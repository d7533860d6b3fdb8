#!/bin/bash
# Install what vcr's build and tests need from Debian's archive, and fetch the
# kernel used for nested KVM. Idempotent: a second run with everything present
# makes no network access and takes well under a second.
#
# Usage: scripts/deps.sh [--build-only]
#   --build-only   only the packages needed to compile vcr (no QEMU, kernel, gdb)
set -euo pipefail

build_pkgs=(gcc make libzstd-dev libcapstone-dev pkg-config)
test_pkgs=(busybox-static cpio xz-utils gdb lldb clang libclang-rt-14-dev valgrind python3 zstd strace chromium)
qemu_min_major=10

want_test=1
[ "${1:-}" = "--build-only" ] && want_test=0

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

cache="${VCR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vcr}"

missing=()
pkgs=("${build_pkgs[@]}")
[ $want_test = 1 ] && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done

updated=0
apt_update() {
    if [ $updated = 0 ]; then
        $SUDO apt-get update -qq
        updated=1
    fi
}

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ $want_test = 1 ] || exit 0

# QEMU: hardware breakpoints in L2 need QEMU >= 10 (see docs/nested-kvm.md).
qemu_major() {
    command -v qemu-system-x86_64 >/dev/null || { echo 0; return; }
    qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p'
}
if [ "$(qemu_major)" -lt $qemu_min_major ]; then
    . /etc/os-release
    if [ "${VERSION_CODENAME:-}" = bookworm ]; then
        src=/etc/apt/sources.list.d/vcr-bookworm-backports.sources
        if [ ! -e $src ]; then
            # Same archive URI and keyring as the system's own deb822 source.
            uri=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
            key=$(sed -n 's/^Signed-By: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
            : "${uri:=http://deb.debian.org/debian}"
            : "${key:=/usr/share/keyrings/debian-archive-keyring.gpg}"
            printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
                "$uri" "$key" | $SUDO tee $src >/dev/null
            updated=0
        fi
        apt_update
        echo "deps: installing qemu-system-x86 from bookworm-backports" >&2
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            -t bookworm-backports qemu-system-x86 >/dev/null
    else
        apt_update
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
    fi
    if [ "$(qemu_major)" -lt $qemu_min_major ]; then
        echo "deps: QEMU $(qemu_major) installed, need >= $qemu_min_major (hardware breakpoints in L2)" >&2
        exit 1
    fi
fi

# Kernel for nested KVM: Debian's own, extracted (no install, no root fs).
kdir="$cache/kernel"
if [ ! -s "$kdir/vmlinuz" ] || [ ! -d "$kdir/modules" ] || [ ! -s "$kdir/System.map" ]; then
    apt_update
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
    [ -n "$pkg" ] || { echo "deps: cannot resolve linux-image-amd64's kernel package" >&2; exit 1; }
    echo "deps: fetching $pkg" >&2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
    dpkg -x "$tmp"/*.deb "$tmp/x"
    rm -rf "$kdir.new"; mkdir -p "$kdir.new"
    cp "$tmp"/x/boot/vmlinuz-* "$kdir.new/vmlinuz"
    # System.map: kernel symbol addresses for gdb on a Linux guest (no
    # debug symbols in Debian's image; boot with nokaslr), and the config.
    cp "$tmp"/x/boot/System.map-* "$kdir.new/System.map"
    cp "$tmp"/x/boot/config-* "$kdir.new/config"
    kver=$(ls "$tmp/x/lib/modules")
    mkdir -p "$kdir.new/modules"
    # Only the modules the harness loads; the rest is 300+ MB we never use.
    for m in arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko virt/lib/irqbypass.ko \
             drivers/crypto/ccp/ccp.ko drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko \
             drivers/virtio/virtio_pci.ko drivers/virtio/virtio_pci_modern_dev.ko \
             drivers/virtio/virtio_pci_legacy_dev.ko net/9p/9pnet.ko net/9p/9pnet_virtio.ko \
             fs/netfs/netfs.ko fs/fscache/fscache.ko fs/9p/9p.ko drivers/net/failover.ko \
             net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
        f="$tmp/x/lib/modules/$kver/kernel/$m"
        for c in "$f" "$f.xz"; do [ -e "$c" ] && cp "$c" "$kdir.new/modules/"; done
    done
    echo "$kver" > "$kdir.new/version"
    rm -rf "$kdir"; mv "$kdir.new" "$kdir"
fi
exit 0
