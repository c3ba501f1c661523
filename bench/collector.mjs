// A HEP collector that reads and discards, for the benchmark's --hep cases: one TCP listener and
// one UDP socket on free ports of 127.0.0.1. It counts bytes and packets and never answers.
//
//   node bench/collector.mjs      prints {"tcp":PORT,"udp":PORT} on stdout, runs until killed
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./args.mjs";

export async function startCollector() {
  const counts = { tcpBytes: 0, udpDatagrams: 0 };
  const connections = new Set();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on("data", (chunk) => (counts.tcpBytes += chunk.length));
    socket.on("error", () => {});   // a sender that resets its connection is not the collector's failure
    socket.on("close", () => connections.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const udp = createSocket("udp4");
  udp.on("message", () => counts.udpDatagrams++);
  await new Promise((resolve) => udp.bind(0, "127.0.0.1", resolve));
  // A receive buffer large enough that a burst is not dropped by the kernel while we are busy.
  try {
    udp.setRecvBufferSize(32 << 20);
  } catch {
    // capped by net.core.rmem_max; the datagrams the kernel drops are then not counted
  }
  return {
    tcpUrl: `tcp://127.0.0.1:${server.address().port}`,
    udpUrl: `udp://127.0.0.1:${udp.address().port}`,
    counts,
    stop() {
      server.close();
      for (const socket of connections) socket.destroy();
      udp.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  parseCommandLine(`usage: node bench/collector.mjs
A HEP collector that reads and discards (bench/run.mjs's --hep cases): prints {"tcp":PORT,"udp":PORT} on
stdout, counts bytes and packets, runs until killed; on SIGTERM prints the counts on stderr.`);
  const collector = await startCollector();
  console.log(JSON.stringify({ tcp: collector.tcpUrl, udp: collector.udpUrl }));
  process.on("SIGTERM", () => {
    console.error(JSON.stringify(collector.counts));
    process.exit(0);
  });
}
