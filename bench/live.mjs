#!/usr/bin/env node
// Live capture on lo: how many of N SIP messages, sent as fast as one UDP socket can, come out
// of `siphon capture`, per kernel buffer size. The difference is what the capture buffer
// dropped, which cap cannot report (docs/capture.md). Needs CAP_NET_RAW (root).
//
//   node bench/live.mjs [--messages N] [--buffer-mb MB]...
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const siphon = fileURLToPath(new URL("../dist/siphon.mjs", import.meta.url));
const IN_FLIGHT = 256;
const DEADLINE_MS = 120000;

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "200000" },
    "buffer-mb": { type: "string", multiple: true },
  },
});
const messages = Number(values.messages);
const buffers = (values["buffer-mb"] ?? ["32", "256"]).map(Number);

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

async function run(bufferMb) {
  const port = await freePort();
  const child = spawn(process.execPath, [siphon, "capture", "-i", "lo", "-f", `udp dst port ${port}`,
    "--buffer-mb", String(bufferMb), "-o", "/dev/null"], { stdio: ["ignore", "ignore", "pipe"] });
  const output = { text: "" };
  child.stderr.on("data", (d) => { output.text += d; });
  await waitFor(child, output, /capturing on/, "ready line");
  const seconds = await blast(port);
  // Captured so far is only known at the end: stop once the sender is done and the socket idle.
  child.kill("SIGINT");
  const [, captured] = await waitFor(child, output, /lo: (\d+) packets captured/, "summary");
  return { bufferMb, sent: messages, captured: Number(captured), rate: Math.round(messages / seconds) };
}

console.log("| --buffer-mb | sent | captured | lost | send rate (msg/s) |");
console.log("| ---: | ---: | ---: | ---: | ---: |");
for (const mb of buffers) {
  const r = await run(mb);
  const lost = r.sent - r.captured;
  console.log(`| ${r.bufferMb} | ${r.sent} | ${r.captured} | ${lost} (${(100 * lost / r.sent).toFixed(2)}%) | ${r.rate} |`);
}
