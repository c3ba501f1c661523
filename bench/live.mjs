#!/usr/bin/env node
// Live capture on lo through siphon's libpcap addon. Two measurements, each with the command it ran:
// - loss: N SIP messages sent as fast as one UDP socket can while `siphon capture` runs, per
//   kernel buffer size: what came out, what the kernel says it dropped (pcap_stats), and
//   siphon's CPU time per packet (the whole pipeline: capture, core, envelopes to /dev/null);
// - delay: messages sent one every 2 ms, per block timeout and with --immediate: the time from
//   the send to the envelope read from siphon's stdout, median and max.
// Needs CAP_NET_RAW (root). Run alone: other traffic on lo is not counted but shares the CPU.
//
//   node bench/live.mjs [--messages N] [--buffer-mb MB]... [--delay-messages N]
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./args.mjs";

const siphon = fileURLToPath(new URL("../dist/siphon.mjs", import.meta.url));
const IN_FLIGHT = 256;
const DEADLINE_MS = 120000;

const USAGE = `usage: node bench/live.mjs [--messages N] [--buffer-mb MB]... [--delay-messages N]
  (defaults: --messages 200000, --buffer-mb 8 and 32, --delay-messages 500)
Live capture on lo through siphon's libpcap addon (needs CAP_NET_RAW): loss and CPU time per packet at each
kernel buffer size, then the delay from send to envelope per block timeout and with --immediate.`;
const { values } = parseCommandLine(USAGE, {
  options: {
    messages: { type: "string", default: "200000" },
    "buffer-mb": { type: "string", multiple: true },
    "delay-messages": { type: "string", default: "500" },
  },
});
const messages = Number(values.messages);
const buffers = (values["buffer-mb"] ?? ["8", "32"]).map(Number);
const delayMessages = Number(values["delay-messages"]);
const DELAY_EVERY_MS = 2;
const CLOCK_TICKS = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

function message(i) {
  return Buffer.from(`OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5098;branch=z9hG4bKb${i}\r\n` +
    `From: <sip:bench@127.0.0.1>;tag=${i}\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: bench-${i}\r\n` +
    `CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`);
}

async function freePort() {
  const s = createSocket("udp4");
  await new Promise((resolve) => s.bind(0, "127.0.0.1", resolve));
  const { port } = s.address();
  s.close();
  return port;
}

function blast(port) {
  const socket = createSocket("udp4");
  return new Promise((resolve) => {
    let sent = 0;
    let inFlight = 0;
    const started = process.hrtime.bigint();
    const pump = () => {
      while (sent < messages && inFlight < IN_FLIGHT) {
        sent++;
        inFlight++;
        socket.send(message(sent), port, "127.0.0.1", () => {
          inFlight--;
          if (sent === messages && inFlight === 0) {
            socket.close();
            resolve(Number(process.hrtime.bigint() - started) / 1e9);
          } else pump();
        });
      }
    };
    pump();
  });
}

function waitFor(child, output, pattern, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms: ${output.text}`)), DEADLINE_MS);
    const check = () => {
      const m = pattern.exec(output.text);
      if (!m) return;
      clearTimeout(timer);
      child.stderr.off("data", check);
      resolve(m);
    };
    child.stderr.on("data", check);
    check();
  });
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}

function start(args) {
  const child = spawn(process.execPath, [siphon, "capture", "-i", "lo", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output = { text: "" };
  child.stderr.on("data", (d) => { output.text += d; });
  return { child, output };
}

async function loss(bufferMb) {
  const port = await freePort();
  const args = ["-f", `udp dst port ${port}`, "--ignore-outgoing", "--buffer-mb", String(bufferMb), "-o", "/dev/null"];
  const { child, output } = start(args);
  await waitFor(child, output, /capturing on/, "ready line");
  const cpuBefore = cpuSeconds(child.pid);
  const seconds = await blast(port);
  child.kill("SIGINT");
  const [, captured, drops] = await waitFor(child, output, /lo: (\d+) packets captured, (\d+) dropped by the kernel/, "summary");
  return { args, bufferMb, sent: messages, captured: Number(captured), drops: Number(drops), rate: Math.round(messages / seconds),
    cpuUs: (cpuSeconds(child.pid) - cpuBefore) * 1e6 / Number(captured) };
}

// Sends delayMessages one every DELAY_EVERY_MS; each envelope's delay is the time from its send
// to the line on siphon's stdout.
async function delay(args) {
  const port = await freePort();
  const { child, output } = start(["-f", `udp dst port ${port}`, ...args]);
  await waitFor(child, output, /capturing on/, "ready line");
  const sentAt = new Map();
  const delays = [];
  let partial = "";
  const done = new Promise((resolve) => {
    child.stdout.on("data", (d) => {
      const now = performance.now();
      const lines = (partial + d).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        const id = JSON.parse(line).call_id;
        if (sentAt.has(id)) delays.push(now - sentAt.get(id));
      }
      if (delays.length === delayMessages) resolve();
    });
  });
  const socket = createSocket("udp4");
  for (let i = 1; i <= delayMessages; i++) {
    const text = Buffer.from(`OPTIONS sip:d@127.0.0.1 SIP/2.0\r\nCall-ID: delay-${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    sentAt.set(`delay-${i}`, performance.now());
    socket.send(text, port, "127.0.0.1");
    await new Promise((resolve) => setTimeout(resolve, DELAY_EVERY_MS));
  }
  await done;
  socket.close();
  child.kill("SIGINT");
  await waitFor(child, output, /packets captured/, "summary");
  delays.sort((a, b) => a - b);
  return { args, median: delays[Math.floor(delays.length / 2)], max: delays[delays.length - 1] };
}

console.log(`siphon capture -i lo, ${messages} messages at full speed from one UDP socket:\n`);
console.log("| --buffer-mb | sent | captured | kernel drops | unaccounted | send rate (msg/s) | siphon CPU per packet |");
console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const mb of buffers) {
  const r = await loss(mb);
  console.log(`| ${r.bufferMb} | ${r.sent} | ${r.captured} | ${r.drops} | ${r.sent - r.captured - r.drops} | ${r.rate} | ${r.cpuUs.toFixed(2)} us |`);
}
console.log("\n(each run: siphon capture -i lo -f 'udp dst port P' --ignore-outgoing --buffer-mb MB -o /dev/null)");
console.log(`\nDelay from send to envelope on stdout, ${delayMessages} messages one every ${DELAY_EVERY_MS} ms:\n`);
console.log("| capture options | median (ms) | max (ms) |");
console.log("| --- | ---: | ---: |");
for (const args of [["--block-timeout", "10"], ["--block-timeout", "1"], ["--immediate"]]) {
  const r = await delay(args);
  console.log(`| ${r.args.join(" ")} | ${r.median.toFixed(2)} | ${r.max.toFixed(2)} |`);
}
