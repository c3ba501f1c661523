// The generator's command line (test/support/generate.mjs runs it): options checked and turned
// into WorkloadOptions, the workload written to --out and its truth to --truth, and a line on
// stderr with the counts and the generation rate. Takes argv; gives an exit code (2 for a usage
// error, with the usage text).

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { generateWorkload } from "./mix";
import { workloadOptions, type WorkloadOptions } from "./options";
import { truthJson } from "./truth";

const USAGE = `usage: node test/support/generate.mjs --out FILE.pcap [--truth FILE.json] [--seed N]
       [--messages N | --calls N] [--rtp PACKETS_PER_DIRECTION] [--rate SCENARIOS_PER_SECOND] [--tcp]
       [--mtu BYTES] [--tunnel vxlan|gre] [--media] [--call-seconds MEAN_SECONDS]`;

function integerOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new Error(`--${name} wants a non-negative integer, got ${value}`);
  return number;
}

interface CommandLine {
  out: string;
  truth: string | undefined;
  options: WorkloadOptions;
}

function parseCommandLine(argv: readonly string[]): CommandLine {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      out: { type: "string" },
      truth: { type: "string" },
      seed: { type: "string" },
      messages: { type: "string" },
      calls: { type: "string" },
      rtp: { type: "string" },
      rate: { type: "string" },
      tcp: { type: "boolean" },
      mtu: { type: "string" },
      tunnel: { type: "string" },
      media: { type: "boolean" },
      "call-seconds": { type: "string" },
    },
    strict: true,
  });
  if (values.out === undefined) throw new Error("--out is required");
  const given: Partial<Record<keyof WorkloadOptions, number | undefined>> = {
    seed: integerOption(values.seed, "seed"),
    messages: integerOption(values.messages, "messages"),
    calls: integerOption(values.calls, "calls"),
    rtpPacketsPerDirection: integerOption(values.rtp, "rtp"),
    scenariosPerSecond: integerOption(values.rate, "rate"),
    meanCallSeconds: integerOption(values["call-seconds"], "call-seconds"),
  };
  if ((given.seed ?? 0) > 0xffffffff) throw new Error("--seed must fit in 32 bits");
  if (given.scenariosPerSecond === 0) throw new Error("--rate must be positive");
  const overrides: Partial<WorkloadOptions> = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  if (values.tcp === true) overrides.tcp = true;
  if (values.media === true) overrides.media = true;
  const mtu = integerOption(values.mtu, "mtu");
  if (mtu !== undefined && mtu !== 0 && mtu < 128) throw new Error("--mtu must be 0 (off) or at least 128");
  if (mtu !== undefined) overrides.mtu = mtu;
  if (values.tunnel !== undefined) {
    if (values.tunnel !== "vxlan" && values.tunnel !== "gre") throw new Error(`--tunnel wants vxlan or gre, got ${values.tunnel}`);
    overrides.tunnel = values.tunnel;
  }
  return { out: values.out, truth: values.truth, options: workloadOptions(overrides) };
}

export function main(argv: readonly string[]): number {
  let commandLine: CommandLine;
  try {
    commandLine = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const truth = generateWorkload(commandLine.options, commandLine.out);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (commandLine.truth !== undefined) writeFileSync(commandLine.truth, truthJson(truth));
  const { sipMessages, packets, fileBytes } = truth.totals;
  process.stderr.write(
    `generated ${sipMessages} SIP messages in ${packets} packets (${(fileBytes / 1e6).toFixed(1)} MB) ` +
      `in ${seconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU: ${Math.round(sipMessages / seconds)} SIP msgs/s, ` +
      `${Math.round(packets / seconds)} packets/s\n`,
  );
  return 0;
}
