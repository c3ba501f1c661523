// SIP text: requests and responses (SipRequest, SipResponse) rendered with header names spelled
// in a message's style (full, compact or random case), Via, name-addr, SDP bodies and Call-ID
// forms. Takes a request or response and an Rng; gives the message as a string, its
// Content-Length counted in UTF-8 bytes.

import type { Endpoint } from "./frames";
import { hostInUri } from "./hosts";
import type { WorkloadOptions } from "./options";
import type { Rng } from "./rng";

export type Header = readonly [name: string, value: string];

export interface Body {
  type: string;
  text: string;
}

export interface SipRequest {
  method: string;
  uri: string;
  via: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  agent: string;
  headers: readonly Header[];
  body: Body | undefined;
}

export interface HeaderStyle {
  compact: boolean;
  randomCase: boolean;
}

const COMPACT_NAMES: Readonly<Record<string, string>> = {
  "Call-ID": "i",
  From: "f",
  To: "t",
  Via: "v",
  Contact: "m",
  "Content-Length": "l",
  "Content-Type": "c",
  Supported: "k",
};

const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: "Trying",
  180: "Ringing",
  183: "Session Progress",
  200: "OK",
  202: "Accepted",
  401: "Unauthorized",
  404: "Not Found",
  408: "Request Timeout",
  480: "Temporarily Unavailable",
  486: "Busy Here",
  487: "Request Terminated",
  503: "Service Unavailable",
  603: "Decline",
};

export const ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, REFER, UPDATE";

export function pickStyle(rng: Rng, options: WorkloadOptions): HeaderStyle {
  return { compact: rng.chance(options.compactHeaderShare), randomCase: rng.chance(options.randomCaseShare) };
}

function headerName(name: string, style: HeaderStyle, rng: Rng): string {
  if (!style.compact && !style.randomCase) return name;
  const compact = style.compact ? COMPACT_NAMES[name] : undefined;
  if (compact !== undefined) return compact;
  if (!style.randomCase) return name;
  let mixed = "";
  for (const char of name) mixed += rng.chance(0.5) ? char.toUpperCase() : char.toLowerCase();
  return mixed;
}

/** One SIP message's text, its header names spelled in the message's style. */
class SipText {
  private text: string;

  constructor(
    startLine: string,
    private readonly style: HeaderStyle,
    private readonly rng: Rng,
  ) {
    this.text = `${startLine}\r\n`;
  }

  header(name: string, value: string): this {
    this.text += `${headerName(name, this.style, this.rng)}: ${value}\r\n`;
    return this;
  }

  headers(headers: readonly Header[]): this {
    for (const [name, value] of headers) this.header(name, value);
    return this;
  }

  /** Adds Content-Type and a Content-Length in bytes, then the body. */
  finish(body: Body | undefined): string {
    if (body === undefined) return `${this.header("Content-Length", "0").text}\r\n`;
    this.header("Content-Type", body.type).header("Content-Length", String(Buffer.byteLength(body.text, "utf8")));
    return `${this.text}\r\n${body.text}`;
  }
}

export function renderRequest(request: SipRequest, style: HeaderStyle, rng: Rng): string {
  return new SipText(`${request.method} ${request.uri} SIP/2.0`, style, rng)
    .header("Via", request.via)
    .header("Max-Forwards", "70")
    .header("From", request.from)
    .header("To", request.to)
    .header("Call-ID", request.callId)
    .header("CSeq", `${request.cseq} ${request.method}`)
    .headers(request.headers)
    .header("User-Agent", request.agent)
    .finish(request.body);
}

export interface SipResponse {
  status: number;
  toTag: string | undefined;
  agent: string;
  headers: readonly Header[];
  body: Body | undefined;
}

export function renderResponse(request: SipRequest, response: SipResponse, style: HeaderStyle, rng: Rng): string {
  const to = response.toTag === undefined || request.to.includes(";tag=") ? request.to : `${request.to};tag=${response.toTag}`;
  const reason = REASON_PHRASES[response.status] ?? "Unknown";
  return new SipText(`SIP/2.0 ${response.status} ${reason}`, style, rng)
    .header("Via", request.via)
    .header("From", request.from)
    .header("To", to)
    .header("Call-ID", request.callId)
    .header("CSeq", `${request.cseq} ${request.method}`)
    .headers(response.headers)
    .header("Server", response.agent)
    .finish(response.body);
}

export function hostPort(endpoint: Endpoint): string {
  return `${hostInUri(endpoint.host.ip)}:${endpoint.port}`;
}

export function via(endpoint: Endpoint, rng: Rng): string {
  return `SIP/2.0/UDP ${hostPort(endpoint)};branch=z9hG4bK${rng.hex(16)};rport`;
}

export function nameAddr(display: string, uri: string): string {
  return `"${display}" <${uri}>`;
}

export function sdp(user: string, endpoint: Endpoint, sessionId: number, rtpPort: number, payloadTypes: readonly number[]): Body {
  const family = endpoint.host.ip.version === 6 ? "IP6" : "IP4";
  const address = endpoint.host.ip.text;
  const rtpmaps = payloadTypes.map((pt) => `a=rtpmap:${pt} ${pt === 8 ? "PCMA" : "PCMU"}/8000\r\n`).join("");
  const text =
    `v=0\r\no=${user} ${sessionId} ${sessionId} IN ${family} ${address}\r\ns=-\r\nc=IN ${family} ${address}\r\nt=0 0\r\n` +
    `m=audio ${rtpPort} RTP/AVP ${payloadTypes.join(" ")} 101\r\n${rtpmaps}` +
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
  return { type: "application/sdp", text };
}

// An ISUP IAM as SIP-I carries it (RFC 3204; ITU-T Q.763): message type, nature of connection,
// forward call indicators, calling party's category, transmission medium, the pointers to the
// called party number and to no optional part, then the number (national, even digits). Every
// byte is below 0x80, so the text stays one byte a character.
const ISUP_IAM = "\x01\x00\x60\x00\x0a\x00\x02\x00\x06\x03\x10\x21\x43\x65\x07";

/** SDP inside multipart/mixed beside an ISUP part, as SIP-I gateways send an INVITE. */
export function multipartWithSdp(body: Body, rng: Rng): Body {
  const boundary = `siphon-${rng.hex(12)}`;
  const text =
    `--${boundary}\r\nContent-Type: ${body.type}\r\n\r\n${body.text}\r\n` +
    `--${boundary}\r\nContent-Type: application/ISUP;version=itu-t92+\r\nContent-Disposition: signal;handling=optional\r\n\r\n${ISUP_IAM}\r\n` +
    `--${boundary}--\r\n`;
  return { type: `multipart/mixed;boundary=${boundary}`, text };
}

export function uuid(rng: Rng): string {
  const hex = rng.hex(32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}
