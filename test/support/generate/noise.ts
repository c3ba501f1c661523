// Noise: the traffic a SIP sensor must skip: DNS queries and answers, short TCP exchanges on the
// TLS port with random payload, ICMP echo, ARP. Takes a Scenario; gives scheduled packets that
// the truth counts as noise, none of them SIP.

import { reverse, type Endpoint, type Flow } from "./frames";
import type { Family } from "./hosts";
import { TCP_ACK, TCP_PSH, TCP_SYN, writeArpFrame, writeIcmpEchoFrame, writeTcpFrame, writeUdpFrame } from "./packets";
import type { Rng } from "./rng";
import { MS, pickFamily, type Scenario } from "./simulation";

const DNS_NAMES = ["pbx.example.com", "time.example.org", "updates.vendor.example", "provisioning.example.com", "www.example.net"];

function ephemeralPort(rng: Rng): number {
  return rng.between(49152, 65535);
}

function dnsName(name: string): Buffer {
  const labels = name.split(".").map((label) => Buffer.concat([Buffer.of(label.length), Buffer.from(label, "ascii")]));
  return Buffer.concat([...labels, Buffer.of(0)]);
}

const DNS_WIRE_NAMES = new Map(DNS_NAMES.map((name) => [name, dnsName(name)]));

function dnsMessage(id: number, name: string, ipv6Answer: boolean, answer: Uint8Array | undefined): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(answer === undefined ? 0x0100 : 0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answer === undefined ? 0 : 1, 6);
  const type = ipv6Answer ? 28 : 1;
  const question = Buffer.concat([DNS_WIRE_NAMES.get(name) ?? dnsName(name), Buffer.of(0, type, 0, 1)]);
  if (answer === undefined) return Buffer.concat([header, question]);
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // name: pointer to the question
  record.writeUInt16BE(type, 2);
  record.writeUInt16BE(1, 4);
  record.writeUInt32BE(300, 6);
  record.writeUInt16BE(answer.byteLength, 10);
  return Buffer.concat([header, question, record, answer]);
}

function noiseClient(scenario: Scenario, family: Family): Endpoint {
  return { host: scenario.rng.pick(family.phones), port: ephemeralPort(scenario.rng) };
}

export function planDns(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const client = noiseClient(scenario, family);
  const flow: Flow = { src: client, dst: { host: family.dnsServer, port: 53 }, vlans: client.host.vlans };
  const id = rng.below(65536);
  const name = rng.pick(DNS_NAMES);
  const aaaa = family.version === 6;
  const answer = Buffer.allocUnsafe(aaaa ? 16 : 4);
  rng.fill(answer);
  sim.noise(startUs, (out, timeUs) => writeUdpFrame(out, timeUs, flow, 0, dnsMessage(id, name, aaaa, undefined)));
  sim.noise(startUs + rng.between(1, 30) * MS, (out, timeUs) => writeUdpFrame(out, timeUs, reverse(flow), 0, dnsMessage(id, name, aaaa, answer)));
}

/** A short TLS-port TCP exchange with random payload: handshake, then a few data segments. */
export function planTcp(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const client = noiseClient(scenario, family);
  const flow: Flow = { src: client, dst: { host: rng.pick(family.webServers), port: 443 }, vlans: client.host.vlans };
  let clientSeq = rng.u32();
  let serverSeq = rng.u32();
  let atUs = startUs;
  const segment = (fromClient: boolean, flags: number, payloadBytes: number): void => {
    const payload = sim.randomPayload(rng, payloadBytes);
    const [seq, ack] = fromClient ? [clientSeq, serverSeq] : [serverSeq, clientSeq];
    const tcp = { seq, ack: flags & TCP_ACK ? ack : 0, flags, payload };
    const advance = payloadBytes + (flags & TCP_SYN ? 1 : 0);
    if (fromClient) clientSeq += advance;
    else serverSeq += advance;
    sim.noise(atUs, (out, timeUs) => writeTcpFrame(out, timeUs, fromClient ? flow : reverse(flow), tcp));
    atUs += rng.between(1, 40) * MS;
  };
  segment(true, TCP_SYN, 0);
  segment(false, TCP_SYN | TCP_ACK, 0);
  segment(true, TCP_ACK, 0);
  const dataSegments = rng.between(1, 3);
  for (let index = 0; index < dataSegments; index++) segment(index % 2 === 0, TCP_PSH | TCP_ACK, rng.between(40, 1200));
}

export function planPing(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = scenario.world.ipv4;
  const phone = rng.pick(family.phones);
  const flow: Flow = { src: { host: rng.pick(family.proxies), port: 0 }, dst: { host: phone, port: 0 }, vlans: phone.vlans };
  const identifier = rng.below(65536);
  const sequence = rng.below(65536);
  const data = sim.randomPayload(rng, 56);
  sim.noise(startUs, (out, timeUs) => writeIcmpEchoFrame(out, timeUs, flow, 8, identifier, sequence, data));
  sim.noise(startUs + rng.between(1, 20) * MS, (out, timeUs) => writeIcmpEchoFrame(out, timeUs, reverse(flow), 0, identifier, sequence, data));
}

export function planArp(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const phone = rng.pick(scenario.world.ipv4.phones);
  const proxy = rng.pick(scenario.world.ipv4.proxies);
  sim.noise(startUs, (out, timeUs) => writeArpFrame(out, timeUs, phone, proxy, false, phone.vlans));
  sim.noise(startUs + rng.between(1, 5) * MS, (out, timeUs) => writeArpFrame(out, timeUs, proxy, phone, true, phone.vlans));
}
