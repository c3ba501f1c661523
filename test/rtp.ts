// Test helpers for media: SDP, RTP and RTCP packets built byte by byte, a call
// with its signalling and impaired media as timed frames, timed pcap files, and
// the endpoints of a captured frame (to line Siphon's streams up with tshark's).
import { concat, pcapHeader, sip, udpFrame, type Frame } from "./helpers";

export function sdp(ip: string, port: number, extra: string[] = [], pts = [0, 101]): string {
  const v = ip.includes(":") ? "IP6" : "IP4";
  return [
    "v=0", `o=- 1 1 IN ${v} ${ip}`, "s=-", `c=IN ${v} ${ip}`, "t=0 0",
    `m=audio ${port} RTP/AVP ${pts.join(" ")}`, "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", ...extra, "",
  ].join("\r\n");
}

export interface SipSide {
  ip: string;
  tag: string;
}

// A SIP message with the usual headers for a call between caller and callee.
export function sipMessage(startLine: string, callId: string, cseq: string, from: SipSide, to: SipSide, body = "",
  contentType = "application/sdp"): string {
  const headers = [
    startLine, `Via: SIP/2.0/UDP ${from.ip}:5060;branch=z9hG4bK${cseq.replace(/\W/g, "")}`,
    `From: <sip:a@${from.ip}>;tag=${from.tag}`, `To: <sip:b@${to.ip}>${to.tag ? `;tag=${to.tag}` : ""}`,
    `Call-ID: ${callId}`, `CSeq: ${cseq}`,
  ];
  if (body) headers.push(`Content-Type: ${contentType}`);
  headers.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return sip(headers, body);
}

export interface RtpFields {
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker?: boolean;
  csrcs?: number;
  extensionWords?: number;
  payload?: Uint8Array;
  padding?: number;
}

export function rtpPacket(f: RtpFields): Uint8Array {
  const csrcs = f.csrcs ?? 0;
  const ext = f.extensionWords;
  const payload = f.payload ?? new Uint8Array(160).fill(0xff);
  const padding = f.padding ?? 0;
  const header = Buffer.alloc(12 + csrcs * 4 + (ext === undefined ? 0 : 4 + ext * 4));
  header[0] = 0x80 | (ext === undefined ? 0 : 0x10) | (padding > 0 ? 0x20 : 0) | csrcs;
  header[1] = (f.marker ? 0x80 : 0) | f.pt;
  header.writeUInt16BE(f.seq & 0xffff, 2);
  header.writeUInt32BE(f.ts >>> 0, 4);
  header.writeUInt32BE(f.ssrc >>> 0, 8);
  if (ext !== undefined) header.writeUInt16BE(ext, 12 + csrcs * 4 + 2);
  const pad = Buffer.alloc(padding);
  if (padding > 0) pad[padding - 1] = padding;
  return concat(header, payload, pad);
}

// RTCP RR (RFC 3550 §6.4.2) with one report block.
export function rtcpReceiverReport(ssrc: number, about: number, fraction: number, lost: number, jitter: number): Uint8Array {
  const b = Buffer.alloc(32);
  b[0] = 0x81;
  b[1] = 201;
  b.writeUInt16BE(7, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b.writeUInt32BE(about >>> 0, 8);
  b[12] = fraction;
  b.writeUIntBE(lost & 0xffffff, 13, 3);
  b.writeUInt32BE(jitter >>> 0, 20);
  return b;
}

// What is done to a stream: packets lost, swapped with the next, sent twice, delayed.
export interface Impairment {
  lose?: number[];       // packet indexes never sent
  swap?: number[];       // packet index i sent after i + 1
  duplicate?: number[];
  jitterUs?: (i: number) => number;
  ssrcChangeAt?: number; // from this index on, a new SSRC and sequence
}

export interface TimedFrame extends Frame {
  timeUs: number;
}

export interface Leg {
  ip: string;
  port: number;
}

// One direction's RTP every 20 ms (PCMU, 160 samples), impaired.
export function rtpStream(from: Leg, to: Leg, ssrc: number, startUs: number, count: number, imp: Impairment = {}): TimedFrame[] {
  const out: TimedFrame[] = [];
  const order: number[] = [];
  for (let i = 0; i < count; i++) order.push(i);
  for (const i of imp.swap ?? []) [order[i], order[i + 1]] = [order[i + 1], order[i]];
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (imp.lose?.includes(i)) continue;
    const changed = imp.ssrcChangeAt !== undefined && i >= imp.ssrcChangeAt;
    const packet = rtpPacket({ pt: 0, seq: (changed ? 30000 : 1000) + i, ts: (changed ? 5000000 : 160000) + i * 160,
      ssrc: changed ? ssrc + 1 : ssrc, marker: i === 0 });
    const timeUs = startUs + k * 20000 + (imp.jitterUs?.(k) ?? 0);
    const frame = { data: udpFrame(packet, { src: from.ip, dst: to.ip, sport: from.port, dport: to.port }), timeUs };
    out.push(frame);
    if (imp.duplicate?.includes(i)) out.push({ ...frame, timeUs: timeUs + 100 });
  }
  return out;
}

export function sipFrame(text: string, from: string, to: string, timeUs: number): TimedFrame {
  return { data: udpFrame(text, { src: from, dst: to }), timeUs };
}

// Frames in capture order with sec/nsec set from timeUs.
export function inTimeOrder(frames: TimedFrame[]): TimedFrame[] {
  return [...frames].sort((a, b) => a.timeUs - b.timeUs)
    .map((f) => ({ ...f, sec: Math.floor(f.timeUs / 1e6), nsec: (f.timeUs % 1e6) * 1000 }));
}

// A classic pcap (microseconds, Ethernet) with each frame's own time.
export function timedPcap(frames: TimedFrame[]): Uint8Array {
  const header = pcapHeader();
  const records = frames.map((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(Math.floor(f.timeUs / 1e6), 0);
    r.writeUInt32LE(f.timeUs % 1e6, 4);
    r.writeUInt32LE(f.data.length, 8);
    r.writeUInt32LE(f.data.length, 12);
    return concat(r, f.data);
  });
  return concat(header, ...records);
}

// "src:port>dst:port" of a captured UDP frame (Ethernet, Linux cooked v1/v2, BSD loopback, raw IP).
export function udpEndpoints(bytes: Uint8Array, linkType: number): string {
  let at = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 276 ? 20 : linkType === 0 || linkType === 108 ? 4 : 0;
  if (linkType === 1) while ([0x8100, 0x88a8, 0x9100].includes((bytes[at - 2] << 8) | bytes[at - 1])) at += 4;
  const v = bytes[at] >> 4;
  const ip = (from: number, n: number): string => v === 4
    ? Array.from(bytes.subarray(from, from + n)).join(".")
    : canonicalIPv6(Array.from({ length: 8 }, (_, g) => ((bytes[from + 2 * g] << 8) | bytes[from + 2 * g + 1]).toString(16)).join(":"));
  const [src, dst, udp] = v === 4 ? [ip(at + 12, 4), ip(at + 16, 4), at + (bytes[at] & 15) * 4] : [ip(at + 8, 16), ip(at + 24, 16), at + 40];
  const port = (p: number): number => (bytes[p] << 8) | bytes[p + 1];
  return `${src}:${port(udp)}>${dst}:${port(udp + 2)}`;
}

// IPv6 text in one form whichever way it was written: eight groups, no leading zeros, no "::".
export function canonicalIPv6(ip: string): string {
  if (!ip.includes(":")) return ip;
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(":");
}
