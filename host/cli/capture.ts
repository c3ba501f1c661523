// `siphon capture -i IFACE`: live packets through the same core and sinks as replay, until
// SIGINT or SIGTERM (or an output failure); then the last batch is flushed, and the
// interfaces' drop counters go with the run's summary. The run around it is run.ts's.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { NothingDecodable, UsageError } from "../exits";
import { captureFilter, DEFAULT_GENEVE_PORTS, DEFAULT_SIP_PORTS, DEFAULT_VXLAN_PORTS } from "../source";
import { DECODED_LINK_TYPES, LiveCapture, LiveCaptureError, linkTypeName, loadPcap, type InterfaceStats } from "../source";
import type { Logger } from "../log";
import type { Outcome, Run } from "./run";

export interface CaptureOptions {
  interfaces: string[];
  bpf?: string;          // -f: replaces the built filter
  sipPorts: string[];    // --sip-port, besides 5060 and 5061
  snaplen: number;
  bufferMb: number;
  promisc: boolean;
  immediate: boolean;       // libpcap's immediate mode (TPACKET_V2): prompt, but the ring holds far fewer packets
  blockTimeoutMs: number;   // TPACKET_V3's block timeout
  ignoreOutgoing: boolean;  // PACKET_IGNORE_OUTGOING
  user?: string;
  vxlanPorts: number[];  // --vxlan-port, for the built filter (none: the default)
  media: boolean;        // --media-calls above 0: the built filter takes RTP/RTCP too
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

export async function capture(run: Run, options: CaptureOptions): Promise<Outcome> {
  checkOptions(options);
  const account = options.user === undefined ? undefined : lookupAccount(options.user);
  const live = new LiveCapture(loadPcap(), (name, drops) => warnDrops(run.service.log, options, name, drops));
  const configured = {
    sipPorts: [...DEFAULT_SIP_PORTS, ...options.sipPorts.map(Number)],
    vxlanPorts: options.vxlanPorts.length > 0 ? options.vxlanPorts : DEFAULT_VXLAN_PORTS,
    genevePorts: DEFAULT_GENEVE_PORTS,
    media: options.media,
  };
  const bpf = options.bpf ?? captureFilter(configured);
  if (options.bpf === undefined) say(`BPF filter built from the configuration (-f replaces it): ${bpf}`);
  const opened = live.open({ interfaces: options.interfaces, filter: bpf, snaplen: options.snaplen,
    bufferBytes: options.bufferMb * 1024 * 1024, promisc: options.promisc, immediate: options.immediate,
    blockTimeoutMs: options.blockTimeoutMs, ignoreOutgoing: options.ignoreOutgoing,
    untaggedFilter: options.bpf === undefined ? captureFilter(configured, false) : undefined });
  if (account) dropPrivileges(live, account);

  // The outputs are opened here, after root was dropped (--user): files they create are the user's.
  const { core, end } = run.pipeline(() => live.counters());
  live.start(core, () => core.flush());
  if (run.service.web) run.service.web.controls.capture = { filter: () => live.filter(), setFilter: (e) => live.setFilter(e) };
  announce(opened, bpf, account);

  let stats: InterfaceStats[];
  try {
    await Promise.race([stopRequest(run.service.stopRequested), live.failure]);
    await live.drain();
  } finally {
    stats = live.close();
  }
  await end();
  return { lines: stats.map((s) => `siphon: ${interfaceSummary(s)}`), failure: nothingDecodable(stats, core.counters()) };
}

// Interfaces whose every packet was of a link type the core does not decode gave nothing.
function nothingDecodable(stats: InterfaceStats[], c: Record<string, number>): Error | undefined {
  if (c.frames === 0 || c.link_unsupported !== c.frames) return undefined;
  const which = stats.filter((s) => !DECODED_LINK_TYPES.includes(s.linkType)).map((s) => `-i ${s.name} (${linkTypeName(s.linkType)})`);
  return new NothingDecodable(`all ${c.frames} packets were of a link type siphon does not decode (${which.join(", ")}), ` +
    "so no SIP message could be read: capture on an Ethernet, Linux cooked (-i any), loopback or raw IP interface");
}

function say(line: string): void {
  process.stderr.write(`siphon: ${line}\n`);
}

function checkOptions(options: CaptureOptions): void {
  if (options.interfaces.length === 0) {
    throw new UsageError("capture needs an interface: -i IFACE (repeat -i for several; try 'siphon capture --list')");
  }
  const repeated = options.interfaces.find((name, i) => options.interfaces.indexOf(name) !== i);
  if (repeated) throw new UsageError(`-i ${repeated} is given twice: every message would come out twice`);
  if (options.bpf !== undefined && options.sipPorts.length > 0) {
    throw new UsageError("--sip-port shapes the built filter, which -f replaces: put the ports in the -f filter");
  }
}

// The user name as the system resolves it (getent: NSS, LDAP), /etc/passwd where getent is absent.
function lookupAccount(name: string): Account {
  if (process.getuid?.() !== 0) {
    throw new UsageError(`--user ${name}: siphon is not running as root, so there is nothing to drop; ` +
      "leave --user out (an unprivileged capture needs CAP_NET_RAW, see docs/capture.md)");
  }
  const entry = passwdEntry(name);
  if (entry === undefined) throw new UsageError(`--user ${name}: no such user on this system`);
  const [, , uid, gid] = entry.split(":");
  const account = { name, uid: Number(uid), gid: Number(gid) };
  if (account.uid === 0) throw new UsageError(`--user ${name}: that account is root; name an unprivileged user`);
  return account;
}

function passwdEntry(name: string): string | undefined {
  try {
    return execFileSync("getent", ["passwd", name], { encoding: "latin1", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return undefined; // getent ran: no such user
  }
  return readFileSync("/etc/passwd", "latin1").split("\n").find((line) => line.startsWith(`${name}:`));
}

// In Node on POSIX, missing from @types/node 20.
interface ProcessGroups {
  initgroups?: (user: string, extraGroup: number) => void;
}

// Groups first, then the group, then the user: after setuid there is no way back to do the rest.
function dropPrivileges(live: LiveCapture, account: Account): void {
  try {
    (process as NodeJS.Process & ProcessGroups).initgroups?.(account.name, account.gid);
    process.setgid?.(account.gid);
    process.setuid?.(account.uid);
  } catch (err) {
    live.close();
    throw new LiveCaptureError(`--user ${account.name}: could not drop root (${(err as Error).message}); ` +
      "refusing to capture as root");
  }
  if (stillRoot()) {
    live.close();
    throw new LiveCaptureError(`--user ${account.name}: the process can still become root after the drop; ` +
      "refusing to capture as root");
  }
}

function stillRoot(): boolean {
  if (process.getuid?.() === 0 || process.geteuid?.() === 0) return true;
  try {
    process.setuid?.(0);
    return true;
  } catch {
    return false;
  }
}

function announce(opened: InterfaceStats[], bpf: string, account: Account | undefined): void {
  for (const s of opened) {
    if (!DECODED_LINK_TYPES.includes(s.linkType)) {
      say(`-i ${s.name}: ${linkTypeName(s.linkType)} is not a link type siphon decodes; its packets will be counted as unsupported`);
    }
  }
  for (const s of opened.filter((o) => o.filter !== bpf)) {
    say(`-i ${s.name}: libpcap has no VLAN support on ${linkTypeName(s.linkType)}, so its filter leaves out the 802.1Q branches: ${s.filter}`);
  }
  for (const s of opened.filter((o) => o.warning !== undefined)) say(`-i ${s.name}: libpcap warns: ${s.warning}`);
  const where = opened.map((s) => `${s.name} (${linkTypeName(s.linkType)})`).join(", ");
  const as = account ? ` as ${account.name}` : "";
  say(`capturing on ${where}${as}; SIGINT or SIGTERM stops`);
}

// Whoever watches the signals and the outputs sets a flag; a live source never ends by itself, so look for it.
const STOP_POLL_MS = 100;

function stopRequest(stopRequested: () => string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (stopRequested() === undefined) return;
      clearInterval(poll);
      resolve();
    }, STOP_POLL_MS);
  });
}

function interfaceSummary(s: InterfaceStats): string {
  const d = s.interfaceDrops;
  const drops = d === undefined
    ? "interface drop counters not available"
    : `${d.rxDropped + d.rxMissed + d.rxFifo} dropped by the interface (rx_dropped ${d.rxDropped}, ` +
      `rx_missed_errors ${d.rxMissed}, rx_fifo_errors ${d.rxFifo})`;
  return `${s.name}: ${s.packets} packets captured, ${s.kernelDrops} dropped by the kernel (capture buffer full), ` +
    `${s.truncated} cut to --snaplen, ${drops}`;
}

function warnDrops(log: Logger, options: CaptureOptions, name: string, drops: number): void {
  log.warn(`-i ${name}: the kernel is dropping packets (${drops} in the last second): the capture buffer ` +
    `(--buffer-mb ${options.bufferMb}) fills faster than siphon reads it; a larger --buffer-mb absorbs longer bursts`,
  { interface: name, drops });
}

/** `siphon capture --list`: the interfaces libpcap can open. */
export function listInterfaces(): string[] {
  return new LiveCapture(loadPcap()).deviceNames();
}
