// Helpers of the web view's tests: a siphon with --http as a user starts it, the
// API read and written as the page does, and a call whose headers carry markup.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, onCleanup, waitFor } from "./mosquitto";
import { pcapFile, sip, udpFrame } from "./helpers";

export const TOKEN = "test-token-0123456789abcdef";

export function tokenFile(token = TOKEN): string {
  const path = join(mkdtempSync(join(tmpdir(), "siphon-http-")), "token");
  writeFileSync(path, `${token}\n`);
  return path;
}

export interface Siphon {
  child: ChildProcess;
  base: string;            // http://127.0.0.1:PORT
  stderr(): string;
}

// `args` after the command; --http on a free port is added. Resolves once the server
// listens (and, for `view`, once the capture is in the window).
export async function startSiphon(command: "replay" | "view", args: string[]): Promise<Siphon> {
  const port = await freePort();
  const child = spawn(process.execPath, ["dist/siphon.mjs", command, ...args, "--http", `127.0.0.1:${port}`, "--no-progress"],
    { stdio: ["pipe", "ignore", "pipe"] });
  onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  const ready = command === "view" ? /is in the web view at/ : /serving \/metrics/;
  await waitFor(`siphon ${command} serving`, () => ready.test(stderr) || child.exitCode !== null, () => stderr);
  if (child.exitCode !== null) throw new Error(`siphon ${command} ended (${child.exitCode}): ${stderr}`);
  return { child, base: `http://127.0.0.1:${port}`, stderr: () => stderr };
}

export async function getJson(base: string, path: string): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(base + path);
  const text = await r.text();
  return { status: r.status, body: text.startsWith("{") ? JSON.parse(text) : text, headers: r.headers };
}

export async function post(base: string, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path, { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } });
  return { status: r.status, body: await r.json() };
}

export const HOSTILE_CALL_ID = "xss-<b>bold</b>@attacker.example";
export const HOSTILE_UA = "<script>window.__pwned = 'script'</script>";
export const HOSTILE_FROM = "\"<img src=x onerror=window.__pwned='img'>\" <sip:mallory@attacker.example>;tag=evil1";

// A whole call (INVITE, 180, 200, ACK, BYE, 200) between two addresses, its headers full of markup.
export function hostileCall(callId = HOSTILE_CALL_ID): { pcap: Uint8Array; labels: string[] } {
  const caller = { src: "192.0.2.66", dst: "198.51.100.7" };
  const callee = { src: "198.51.100.7", dst: "192.0.2.66" };
  const headers = (cseq: string, toTag = ""): string[] => [
    "Via: SIP/2.0/UDP 192.0.2.66;branch=z9hG4bKxss", `From: ${HOSTILE_FROM}`, `To: <sip:bob@example.com>${toTag}`,
    `Call-ID: ${callId}`, `CSeq: ${cseq}`, `User-Agent: ${HOSTILE_UA}`, "Content-Length: 0"];
  const messages: [string[], typeof caller, string][] = [
    [["INVITE sip:bob@example.com SIP/2.0", ...headers("1 INVITE")], caller, "INVITE"],
    [["SIP/2.0 180 Ringing", ...headers("1 INVITE", ";tag=b1")], callee, "180 Ringing"],
    [["SIP/2.0 200 OK", ...headers("1 INVITE", ";tag=b1")], callee, "200 OK"],
    [["ACK sip:bob@example.com SIP/2.0", ...headers("1 ACK", ";tag=b1")], caller, "ACK"],
    [["BYE sip:bob@example.com SIP/2.0", ...headers("2 BYE", ";tag=b1")], caller, "BYE"],
    [["SIP/2.0 200 OK", ...headers("2 BYE", ";tag=b1")], callee, "200 OK"],
  ];
  const frames = messages.map(([lines, a]) => udpFrame(sip(lines), a));
  return { pcap: pcapFile(frames), labels: messages.map(([, , label]) => label) };
}
