// `siphon capture` on the loopback interface, as a user runs it: SIP sent on 127.0.0.1 and ::1
// (by sipp where installed, and by the test's own sockets) while the bundled command captures;
// every message sent comes out exactly once. Then the ways it refuses to start.
// Each capture test waits on what it needs, never on a time window: after the ready line it
// sends probes until the capture shows one (so the traffic that matters is not sent before
// the capture sees packets), sends at most a few messages ahead of what has come out, and
// waits for the count of envelopes. BOUND_MS only ends a test that would otherwise hang, and
// the failure says what was seen.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import type { Socket } from "node:dgram";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  addonProblem,
  boundSocket, BOUND_MS, capturePermitted, type Envelope, freeUdpPort, onPath, portOf, Running, runOnce, send, SIPHON, sipText, WINDOW,
} from "./support/live";

// A command prefix that runs the rest in a mount namespace where the named files of the
// directory holding libpcap are gone (an overlay with whiteouts), as on a machine without the
// package; undefined where that cannot be done (not root, no unshare, no overlayfs).
function withoutFiles(pattern: RegExp): string[] | undefined {
  if (process.getuid?.() !== 0 || !onPath("unshare")) return undefined;
  const cache = spawnSync("ldconfig", ["-p"]).stdout?.toString() ?? "";
  const linked = /libpcap\.so\.[\d.]+ \([^)]*\) => (\S+)/.exec(cache)?.[1];
  if (linked === undefined) return undefined;
  const libdir = dirname(realpathSync(linked));
  const root = mkdtempSync(join(tmpdir(), "siphon-nolib-"));
  const [upper, work] = [join(root, "upper"), join(root, "work")];
  mkdirSync(upper);
  mkdirSync(work);
  for (const name of readdirSync(libdir).filter((n) => pattern.test(n))) {
    if (spawnSync("mknod", [join(upper, name), "c", "0", "0"]).status !== 0) return undefined;
  }
  const mount = `mount -t overlay overlay -o lowerdir=${libdir},upperdir=${upper},workdir=${work} ${libdir}`;
  const prefix = ["unshare", "-m", "sh", "-c", `${mount} && exec "$@"`, "sh"];
  return spawnSync(prefix[0], [...prefix.slice(1), "true"]).status === 0 ? prefix : undefined;
}

// An interface other than lo that is up, to open beside it.
function otherInterface(): string | undefined {
  const names = existsSync("/sys/class/net") ? readdirSync("/sys/class/net") : [];
  return names.find((n) => n !== "lo" && readFileSync(`/sys/class/net/${n}/operstate`, "latin1").trim() === "up");
}

function request(n: number, from: number, body = ""): string {
  return `MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${from};branch=z9hG4bKlive${n}\r\n` +
    `From: <sip:alice@127.0.0.1>;tag=a${n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: live-${n}@test\r\n` +
    `CSeq: ${n} MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function response(n: number, from: number): string {
  return `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${from};branch=z9hG4bKlive${n}\r\n` +
    `From: <sip:alice@127.0.0.1>;tag=a${n}\r\nTo: <sip:bob@127.0.0.1>;tag=b${n}\r\nCall-ID: live-${n}@test\r\n` +
    `CSeq: ${n} MESSAGE\r\nContent-Length: 0\r\n\r\n`;
}

// Once the capture sees the probes on `port`: message n sent to it from a socket of its own; its text.
async function sendOne(run: Running, port: number, n: number): Promise<string> {
  await run.probe(port);
  const s = await boundSocket("udp4");
  const text = request(n, s.address().port);
  await send(s, text, port, "127.0.0.1");
  s.close();
  return text;
}

function sorted(texts: string[]): string[] {
  return [...texts].sort();
}

const noAddon = addonProblem();
const permitted = capturePermitted();
const root = process.getuid?.() === 0;

test("capture without -i: a usage error naming the option, exit 2", () => {
  const r = runOnce([]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /capture needs an interface: -i IFACE/);
});

test("no addon for this platform: says what to install and how to build it, exit 1, no stack trace", () => {
  // node-gyp-build looks for prebuilds/linux-riscv64 (none) and, with PREBUILDS_ONLY, not in build/.
  const r = runOnce(["-i", "lo"], { ...process.env, npm_config_arch: "riscv64", PREBUILDS_ONLY: "1" });
  assert.is(r.code, 1);
  assert.match(r.stderr, /needs siphon's libpcap addon, which has no prebuilt binary for linux-\w+ and was not compiled at install/);
  assert.match(r.stderr, /apt-get install build-essential python3 libpcap-dev\), then run 'npx node-gyp-build'/);
  assert.match(r.stderr, /Replaying files \('siphon replay'\) needs none of it/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test("SIPHON_PCAP_ADDON naming no file: names it and what to do, exit 1", () => {
  const r = runOnce(["-i", "lo"], { ...process.env, SIPHON_PCAP_ADDON: "/nonexistent/siphon_pcap.node" });
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot load the libpcap addon \/nonexistent\/siphon_pcap\.node .*unset SIPHON_PCAP_ADDON/);
  assert.not.match(r.stderr, /\n\s+at /);
});

if (noAddon !== undefined) {
  console.log(`live.test: the libpcap addon does not load here (${noAddon}): the capture tests are not registered`);
} else {
  test("an interface that does not exist: named, the ones that do listed, exit 2", () => {
    const r = runOnce(["-i", "siphon-nosuch0", "--vxlan-port", "8472", "--sip-port", "5080"]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /-i siphon-nosuch0: no such interface; libpcap can capture on: .*\blo\b/);
    // The filter built from the configuration is logged first, with the configured ports.
    assert.match(r.stderr, /BPF filter built from the configuration .*\(port 5060 or port 5061 or port 5080\).*udp and \(port 8472 or port 6081\)/);
  });

  const noLibpcap = withoutFiles(/^libpcap\.so/);
  if (noLibpcap === undefined) {
    console.log("live.test: cannot hide libpcap here (needs root, unshare, overlayfs): the 'libpcap absent' test is not registered");
  } else {
    test("libpcap absent: says which package to install, exit 1", () => {
      const r = runOnce(["-i", "lo"], process.env, noLibpcap);
      assert.is(r.code, 1);
      assert.match(r.stderr, /live capture: libpcap is not installed \(libpcap\.so\.[\d.]+: cannot open shared object file/);
      assert.match(r.stderr, /apt-get install libpcap0\.8/);
    });
  }

  test("capture --list names the loopback interface", () => {
    const r = spawnSync(process.execPath, [SIPHON, "capture", "--list"]);
    assert.is(r.status, 0);
    assert.ok(r.stdout.toString().split("\n").includes("lo"));
  });

  if (!root || !onPath("setpriv")) {
    console.log("live.test: not root or no setpriv: the 'capture not permitted' test is not registered");
  } else {
    test("capture not permitted (as nobody): names CAP_NET_RAW and the ways to grant it, exit 1", () => {
      const r = runOnce(["-i", "lo"], process.env, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
      assert.is(r.code, 1);
      assert.match(r.stderr, /-i lo: capture not permitted .*lacks CAP_NET_RAW/);
      assert.match(r.stderr, /setcap cap_net_raw/);
      assert.match(r.stderr, /--user NAME/);
    });
  }

  if (!permitted) {
    console.log("live.test: no CAP_NET_RAW (not root): the live loopback tests are not registered");
  } else {
    registerLiveTests();
  }
}

function registerLiveTests(): void {
  test("sockets on 127.0.0.1 and ::1: every message sent comes out exactly once, byte for byte", async () => {
    const [a, b, a6, b6] = await Promise.all([boundSocket("udp4"), boundSocket("udp4"), boundSocket("udp6"), boundSocket("udp6")]);
    const ports = [a, b, a6, b6].map((s) => s.address().port);
    const run = new Running(ports.flatMap((p) => ["--sip-port", String(p)]).concat(["-i", "lo", "--sensor", "live"]));
    try {
      await run.ready();
      assert.match(run.stderr, /BPF filter built from the configuration/);
      assert.match(run.stderr, /capturing on lo \(ethernet\)/); // Linux loopback: LINKTYPE_ETHERNET
      await run.probe(ports[1]);
      await run.probe(ports[3], "::1");
      const sent: string[] = [];
      const ours = (): Envelope[] => run.envelopes().filter((e) => ports.includes(portOf(e.src)) && ports.includes(portOf(e.dst)));
      const sendAhead = async (s: Socket, text: string, port: number, host: string): Promise<void> => {
        await run.until(() => ours().length >= sent.length - WINDOW, `${sent.length - WINDOW} of our envelopes before sending more`);
        await send(s, text, port, host);
        sent.push(text);
      };
      const big = "x".repeat(20000);
      for (let n = 1; n <= 40; n++) {
        await sendAhead(a, request(n, ports[0], n === 7 ? big : `hello ${n}`), ports[1], "127.0.0.1");
        await sendAhead(b, response(n, ports[0]), ports[0], "127.0.0.1");
      }
      await sendAhead(a6, request(41, ports[2]), ports[3], "::1");
      await run.until(() => ours().length >= sent.length, `${sent.length} envelopes (${ours().length} of ours so far)`);
      assert.is(await run.stop(), 0);
      assert.equal(sorted(ours().map(sipText)), sorted(sent));
      assert.ok(ours().some((e) => e.src.startsWith("[::1]") || e.src.startsWith("::1")), "the IPv6 message");
      assert.match(run.stderr, /siphon: lo: \d+ packets captured, 0 dropped by the kernel \(capture buffer full\), 0 cut to --snaplen, \d+ dropped by the interface/);
    } finally {
      [a, b, a6, b6].forEach((s) => s.close());
      if (run.code === undefined) await run.stop();
    }
  });

  test("stdout never read: a live capture drops what does not fit under --stdout-queue-mb, says so, and holds no more", async () => {
    const port = await freeUdpPort();
    const run = new Running(["-i", "lo", "--sip-port", String(port), "--stdout-queue-mb", "1", "--flush-timeout", "0.5"], [], false);
    const s = await boundSocket("udp4");
    try {
      await run.ready();
      const body = "y".repeat(8000);   // an envelope of about 11 KB: about a hundred fill 1 MiB behind the pipe
      let sent = 0;
      const warned = (): boolean => run.stderr.includes("stdout: its reader is not keeping up");
      while (!warned() && sent < 100000 && run.code === undefined) {
        await send(s, request(++sent, s.address().port, body), port, "127.0.0.1");
        if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await run.until(warned, `the drop warning (${sent} messages sent)`);
      const code = await run.stop("SIGTERM");
      const total = /stdout: (\d+) lines \((\d+) bytes\) were dropped in all/.exec(run.stderr);
      assert.ok(total !== null && Number(total[1]) > 0, run.stderr);
      // What siphon still held at the end is reported, and fails the run, when it is anything: at
      // most the bound. On a loaded machine one batch can pass the bound alone while nothing is
      // queued (the pipe full, a hundred messages read in one block): it is dropped whole, nothing
      // is held at the end, and the run ends 0 (seen once in CI).
      const held = /did not take the last (\d+) bytes/.exec(run.stderr);
      if (held === null) {
        assert.is(code, 0, `nothing held at the end, so no output failure; stderr:\n${run.stderr}`);
      } else {
        assert.ok(Number(held[1]) <= 2 ** 20, `at most 1 MiB held for stdout; stderr:\n${run.stderr}`);
        assert.is(code, 3, run.stderr);
      }
    } finally {
      s.close();
      if (run.code === undefined) await run.stop();
    }
  });

  test("--out on a FIFO whose reader stops: the capture drops what does not fit, still ends on SIGTERM", async () => {
    const port = await freeUdpPort();
    const fifo = join(mkdtempSync(join(tmpdir(), "siphon-live-fifo-")), "out.fifo");
    assert.is(spawnSync("mkfifo", [fifo]).status, 0);
    const run = new Running(["-i", "lo", "--sip-port", String(port), "--out", fifo, "--stdout-queue-mb", "1", "--flush-timeout", "0.5"]);
    const reader = await open(fifo, "r");   // open, never read: the FIFO fills and stays full
    const s = await boundSocket("udp4");
    try {
      await run.ready();
      const body = "y".repeat(8000);
      let sent = 0;
      const warned = (): boolean => run.stderr.includes(`--out ${fifo}: its reader is not keeping up`);
      while (!warned() && sent < 100000 && run.code === undefined) {
        await send(s, request(++sent, s.address().port, body), port, "127.0.0.1");
        if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await run.until(warned, `the drop warning (${sent} messages sent)`);
      const code = await run.stop("SIGTERM");
      assert.match(run.stderr, /--out \S+: \d+ lines \(\d+ bytes\) were dropped in all/);
      assert.match(run.stderr, /did not take the last \d+ bytes within --flush-timeout/);
      assert.is(code, 3, run.stderr);
    } finally {
      s.close();
      await reader.close();
      if (run.code === undefined) await run.stop();
    }
  });

  if (!onPath("sipp")) {
    console.log("live.test: sipp is not installed: the sipp call test is not registered");
  } else {
    test("sipp uac/uas calls on 127.0.0.1: every message either side sent comes out exactly once", async () => {
      const [uasPort, uacPort] = [await freeUdpPort(), await freeUdpPort()];
      const dir = mkdtempSync(join(tmpdir(), "siphon-live-"));
      const run = new Running(["-i", "lo", "--sip-port", String(uasPort), "--sip-port", String(uacPort)]);
      try {
        await run.ready();
        await run.probe(uasPort);
        const calls = "5";
        const uas = spawn("sipp", ["-sn", "uas", "-i", "127.0.0.1", "-p", String(uasPort), "-m", calls, "-nostdin",
          "-trace_msg", "-message_file", join(dir, "uas.log")], { stdio: "ignore" });
        const uasDone = new Promise<number | null>((resolve) => uas.on("close", resolve));
        const uac = spawnSync("sipp", ["-sn", "uac", "-i", "127.0.0.1", "-p", String(uacPort), "-m", calls, "-r", "50",
          "-nostdin", "-trace_msg", "-message_file", join(dir, "uac.log"), `127.0.0.1:${uasPort}`],
          { stdio: "ignore", timeout: BOUND_MS });
        assert.is(uac.status, 0, "sipp uac completed its calls");
        assert.is(await uasDone, 0, "sipp uas completed its calls");
        const sent = [...sippSent(join(dir, "uac.log")), ...sippSent(join(dir, "uas.log"))];
        assert.ok(sent.length >= 30, `5 calls are at least 30 messages, sipp logged ${sent.length}`);
        const ours = (): Envelope[] => run.envelopes().filter((e) => [uasPort, uacPort].includes(portOf(e.dst)));
        await run.until(() => ours().length >= sent.length, `${sent.length} envelopes (${ours().length} of ours so far)`);
        assert.is(await run.stop(), 0);
        assert.equal(sorted(ours().map(sipText)), sorted(sent));
      } finally {
        if (run.code === undefined) await run.stop();
      }
    });
  }

  const other = otherInterface();
  if (other === undefined) {
    console.log("live.test: no interface up besides lo: the two-interface test is not registered");
  } else {
    test(`-i lo -i ${other}: a handle each, with its link type; a message on lo comes out once`, async () => {
      const port = await freeUdpPort();
      const run = new Running(["-i", "lo", "-i", other, "--sip-port", String(port)]);
      try {
        await run.ready();
        assert.match(run.stderr, new RegExp(`capturing on lo \\(ethernet\\), ${other} \\([^)]+\\)`));
        const text = await sendOne(run, port, 4);
        const ours = (): Envelope[] => run.envelopes().filter((e) => portOf(e.dst) === port);
        await run.until(() => ours().length >= 1, "the envelope");
        assert.is(await run.stop(), 0);
        assert.equal(ours().map(sipText), [text]);
        assert.match(run.stderr, new RegExp(`siphon: ${other}: \\d+ packets captured`));
      } finally {
        if (run.code === undefined) await run.stop();
      }
    });
  }

  test("-i any: Linux cooked capture (SLL), the built filter without VLAN branches, a message on lo once", async () => {
    const port = await freeUdpPort();
    const run = new Running(["-i", "any", "--sip-port", String(port)]);
    try {
      await run.ready();
      assert.match(run.stderr, /-i any: libpcap has no VLAN support on Linux SLL, so its filter leaves out the 802\.1Q branches/);
      assert.match(run.stderr, /capturing on any \(Linux SLL\)/);
      const text = await sendOne(run, port, 5);
      const ours = (): Envelope[] => run.envelopes().filter((e) => portOf(e.dst) === port);
      await run.until(() => ours().length >= 1, "the envelope");
      assert.is(await run.stop(), 0);
      assert.equal(ours().map(sipText), [text]);
    } finally {
      if (run.code === undefined) await run.stop();
    }
  });

  test("-f replaces the built filter; a filter libpcap refuses is a usage error, exit 2", async () => {
    const port = await freeUdpPort();
    const bad = runOnce(["-i", "lo", "-f", "udp port ("]);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /-f: libpcap refused the filter on lo \(can't parse filter expression/);
    const run = new Running(["-i", "lo", "-f", `udp port ${port}`]);
    try {
      await run.ready();
      assert.not.match(run.stderr, /built from the configuration/);
      const text = await sendOne(run, port, 1);
      await run.until(() => run.envelopes().length >= 1, "the envelope");
      assert.is(await run.stop("SIGTERM"), 0);
      assert.equal(run.envelopes().map(sipText), [text]);
      const [, packets, messages] = /siphon: (\d+) packets, (\d+) SIP messages/.exec(run.stderr) ?? [];
      assert.ok(Number(packets) >= 2 && packets === messages, `the probes and the message, all SIP: ${packets} packets, ${messages} messages`);
    } finally {
      if (run.code === undefined) await run.stop();
    }
  });

  const noUnversioned = withoutFiles(/^libpcap\.so$/);
  if (noUnversioned === undefined) {
    console.log("live.test: cannot hide libpcap.so here: the 'no libpcap-dev' test is not registered");
  } else {
    test("libpcap.so (libpcap-dev's name) absent: the addon loads libpcap by its soname and captures", async () => {
      const port = await freeUdpPort();
      const run = new Running(["-i", "lo", "--sip-port", String(port)], noUnversioned);
      try {
        await run.ready();
        assert.not.match(run.stderr, /libpcap-dev/);
        const text = await sendOne(run, port, 3);
        await run.until(() => run.envelopes().some((e) => sipText(e) === text), "the envelope");
        assert.is(await run.stop(), 0);
      } finally {
        if (run.code === undefined) await run.stop();
      }
    });
  }

  if (!root || !existsSync("/etc/passwd") || !/^nobody:/m.test(readFileSync("/etc/passwd", "latin1"))) {
    console.log("live.test: not root or no 'nobody' account: the --user test is not registered");
  } else {
    test("--user nobody: the capture runs on as nobody once lo is open", async () => {
      const port = await freeUdpPort();
      const run = new Running(["-i", "lo", "--user", "nobody", "--sip-port", String(port)]);
      try {
        await run.ready();
        assert.match(run.stderr, /capturing on lo \(ethernet\) as nobody/);
        const status = readFileSync(`/proc/${run.pid}/status`, "latin1");
        const uids = /Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(status)?.slice(1).map(Number);
        const gids = /Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(status)?.slice(1).map(Number);
        assert.ok(uids !== undefined && uids.every((u) => u !== 0), `no root uid left: ${uids}`);
        assert.ok(gids !== undefined && gids.every((g) => g !== 0), `no root gid left: ${gids}`);
        const text = await sendOne(run, port, 2);
        await run.until(() => run.envelopes().some((e) => sipText(e) === text), "the envelope after the drop");
        assert.is(await run.stop(), 0);
      } finally {
        if (run.code === undefined) await run.stop();
      }
    });

    test("--user with an unknown account: refused before capturing, exit 2", () => {
      const r = runOnce(["-i", "lo", "--user", "siphon-no-such-user"]);
      assert.is(r.code, 2);
      assert.match(r.stderr, /--user siphon-no-such-user: no such user/);
      assert.not.match(r.stderr, /capturing on/);
    });
  }
}

// The messages a sipp instance sent, from its -trace_msg log: each entry is a dashed line,
// "UDP message sent (N bytes):", a blank line, then exactly N bytes.
function sippSent(log: string): string[] {
  const text = readFileSync(log, "latin1");
  const out: string[] = [];
  const marker = /UDP message sent \((\d+) bytes\):\n\n/g;
  for (let m = marker.exec(text); m !== null; m = marker.exec(text)) {
    out.push(text.substr(m.index + m[0].length, Number(m[1])));
  }
  return out;
}

test.run();
