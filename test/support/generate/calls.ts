// Calls and their media: one INVITE dialog as an SBC sees it, between a phone and a proxy in
// either direction, answered (200, ACK, RTP both ways, BYE from either side), failed (4xx-6xx,
// ACK) or cancelled (CANCEL, 487, ACK), with its RTP streams. Takes a Scenario and the outcome;
// gives scheduled SIP messages and RTP packets, and the call's truth (times, status, hangup).

import { TOS_MEDIA, reverse, type Endpoint, type Flow } from "./frames";
import { hostInUri, type User } from "./hosts";
import { planCallMedia } from "./media";
import { writeUdpFrame } from "./packets";
import type { Rng } from "./rng";
import { ALLOW, multipartWithSdp, nameAddr, sdp, uuid, via, type Body, type Header, type SipRequest, type SipResponse } from "./sip-text";
import { MS, SECOND, contactUri, pickFamily, respond, send, sipEndpoint, userUri, type Scenario } from "./simulation";
import { epochMs, type CallTruth } from "./truth";

type CallOutcome = CallTruth["outcome"];

interface CallSide {
  user: User;
  endpoint: Endpoint;
  tag: string;
  contact: string;
  agent: string;
  rtpPort: number;
}

interface Dialog {
  callId: string;
  caller: CallSide;
  callee: CallSide;
  forward: Flow;
  invite: SipRequest;
  payloadType: number;
  /** The callee is the proxy (an outgoing call): with --media it may be a media server on one port for every call. */
  calleeIsProxy: boolean;
}

const FAILURE_STATUSES: readonly (readonly [number, number])[] = [
  [486, 30],
  [404, 20],
  [480, 15],
  [503, 15],
  [603, 10],
  [408, 10],
];

function rtpPort(rng: Rng): number {
  return 2 * rng.between(8192, 16383);
}

function callSide(rng: Rng, user: User, endpoint: Endpoint): CallSide {
  return { user, endpoint, tag: rng.hex(10), contact: contactUri(user, endpoint), agent: endpoint.host.agent, rtpPort: rtpPort(rng) };
}

/** One hop of a call as an SBC sees it: a phone and a proxy, in either direction; media anchored at both. */
function openDialog(scenario: Scenario): Dialog {
  const { rng } = scenario;
  const family = pickFamily(scenario);
  const local = rng.pick(family.users);
  let remote = rng.pick(family.users);
  if (remote === local) remote = family.users[(family.users.indexOf(local) + 1) % family.users.length] ?? local;
  const phone = sipEndpoint(local.phone);
  const proxy = sipEndpoint(local.registrar);
  const outgoing = rng.chance(0.5);
  const caller = callSide(rng, outgoing ? local : remote, outgoing ? phone : proxy);
  const callee = callSide(rng, outgoing ? remote : local, outgoing ? proxy : phone);
  const callId = rng.chance(0.5) ? `${rng.hex(24)}@${hostInUri(caller.endpoint.host.ip)}` : uuid(rng);
  const offered = rng.chance(0.5) ? [0, 8] : [8, 0];
  const invite: SipRequest = {
    method: "INVITE",
    uri: outgoing ? userUri(callee.user) : callee.contact,
    via: via(caller.endpoint, rng),
    from: `${nameAddr(caller.user.display, userUri(caller.user))};tag=${caller.tag}`,
    to: nameAddr(callee.user.display, userUri(callee.user)),
    callId,
    cseq: rng.between(1, 100),
    agent: caller.agent,
    headers: [
      ["Contact", `<${caller.contact}>`],
      ["Allow", ALLOW],
      ["Supported", "replaces, timer"],
    ],
    body: sdp(caller.user.name, caller.endpoint, rng.between(1, 2 ** 31), caller.rtpPort, offered),
  };
  const forward = { src: caller.endpoint, dst: callee.endpoint, vlans: local.phone.vlans };
  return { callId, caller, callee, forward, invite, payloadType: rng.pick(offered), calleeIsProxy: outgoing };
}

function calleeResponse(dialog: Dialog, status: number, headers: readonly Header[] = [], body?: Body): SipResponse {
  const toTag = status === 100 ? undefined : dialog.callee.tag;
  return { status, toTag, agent: dialog.callee.agent, headers, body };
}

/** ACK in the INVITE's own transaction: how a caller acknowledges a failure. */
function ackForFailure(dialog: Dialog): SipRequest {
  const invite = dialog.invite;
  return { ...invite, method: "ACK", to: `${invite.to};tag=${dialog.callee.tag}`, headers: [], body: undefined };
}

function inDialogRequest(dialog: Dialog, method: string, fromCaller: boolean, cseq: number, rng: Rng): SipRequest {
  const [sender, receiver] = fromCaller ? [dialog.caller, dialog.callee] : [dialog.callee, dialog.caller];
  return {
    method,
    uri: receiver.contact,
    via: via(sender.endpoint, rng),
    from: `${nameAddr(sender.user.display, userUri(sender.user))};tag=${sender.tag}`,
    to: `${nameAddr(receiver.user.display, userUri(receiver.user))};tag=${receiver.tag}`,
    callId: dialog.callId,
    cseq,
    agent: sender.agent,
    headers: [],
    body: undefined,
  };
}

export function planCall(scenario: Scenario, outcome: CallOutcome): void {
  const { rng, sim, startUs } = scenario;
  const dialog = openDialog(scenario);
  const mediaShape = sim.options.media === true ? shapeMedia(scenario, dialog) : undefined;
  const backward = reverse(dialog.forward);
  const ringing = outcome === "cancelled" || rng.chance(outcome === "answered" ? 0.9 : 0.5);
  const tryingUs = startUs + rng.between(1, 30) * MS;
  const ringingUs = ringing ? tryingUs + rng.between(20, 1500) * MS : undefined;
  send(scenario, startUs, dialog.invite, dialog.forward);
  respond(scenario, tryingUs, dialog.invite, calleeResponse(dialog, 100), backward);
  if (ringingUs !== undefined) respond(scenario, ringingUs, dialog.invite, calleeResponse(dialog, 180, [["Contact", `<${dialog.callee.contact}>`]]), backward);
  const truth: CallTruth = {
    callId: dialog.callId,
    outcome,
    finalStatus: 0,
    ipVersion: dialog.forward.src.host.ip.version,
    caller: userUri(dialog.caller.user),
    callee: userUri(dialog.callee.user),
    invite: epochMs(startUs),
    ringing: ringingUs === undefined ? null : epochMs(ringingUs),
    answer: null,
    bye: null,
    durationMs: null,
    hangup: null,
  };
  const progressUs = ringingUs ?? tryingUs;
  if (outcome === "answered") planAnswer(scenario, dialog, progressUs, truth, mediaShape);
  else if (outcome === "failed") planFailure(scenario, dialog, progressUs, truth);
  else planCancel(scenario, dialog, progressUs, truth);
  sim.calls.push(truth);
  sim.plannedCalls++;
}

function planAnswer(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth, mediaShape: MediaShape | undefined): void {
  const { rng, sim } = scenario;
  const backward = reverse(dialog.forward);
  const answerUs = progressUs + Math.min(30 * SECOND, 300 * MS + rng.exponential(4 * SECOND));
  const ackUs = answerUs + rng.between(2, 40) * MS;
  const byeUs = answerUs + Math.min(600 * SECOND, SECOND + rng.exponential(sim.options.meanCallSeconds * SECOND));
  const answerSdp = sdp(dialog.callee.user.name, dialog.callee.endpoint, rng.between(1, 2 ** 31), dialog.callee.rtpPort, [dialog.payloadType]);
  const ok = calleeResponse(dialog, 200, [["Contact", `<${dialog.callee.contact}>`], ["Allow", ALLOW], ["Supported", "replaces, timer"]], answerSdp);
  respond(scenario, answerUs, dialog.invite, ok, backward);
  send(scenario, ackUs, inDialogRequest(dialog, "ACK", true, dialog.invite.cseq, rng), dialog.forward);
  const reinvites = mediaShape === undefined
    ? planMedia(scenario, dialog, ackUs, byeUs)
    : planRealMedia(scenario, dialog, { progressUs, answerUs, ackUs, byeUs }, answerSdp, truth, mediaShape);
  const callerHangsUp = rng.chance(0.55);
  const bye = inDialogRequest(dialog, "BYE", callerHangsUp, callerHangsUp ? dialog.invite.cseq + 1 + reinvites : rng.between(1, 100), rng);
  const byeFlow = callerHangsUp ? dialog.forward : backward;
  send(scenario, byeUs, bye, byeFlow);
  const byeResponder = callerHangsUp ? dialog.callee : dialog.caller;
  const byeOk: SipResponse = { status: 200, toTag: undefined, agent: byeResponder.agent, headers: [], body: undefined };
  respond(scenario, byeUs + rng.between(2, 40) * MS, bye, byeOk, reverse(byeFlow));
  Object.assign(truth, {
    finalStatus: 200,
    answer: epochMs(answerUs),
    bye: epochMs(byeUs),
    durationMs: (Math.round(byeUs) - Math.round(answerUs)) / 1000,
    hangup: callerHangsUp ? "caller" : "callee",
  });
}

function planFailure(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth): void {
  const { rng } = scenario;
  const status = rng.weighted(FAILURE_STATUSES);
  const finalUs = progressUs + rng.between(100, 8000) * MS;
  respond(scenario, finalUs, dialog.invite, calleeResponse(dialog, status), reverse(dialog.forward));
  send(scenario, finalUs + rng.between(1, 20) * MS, ackForFailure(dialog), dialog.forward);
  truth.finalStatus = status;
}

function planCancel(scenario: Scenario, dialog: Dialog, progressUs: number, truth: CallTruth): void {
  const { rng } = scenario;
  const backward = reverse(dialog.forward);
  const cancelUs = progressUs + rng.between(1000, 15000) * MS;
  const cancelOkUs = cancelUs + rng.between(2, 30) * MS;
  const terminatedUs = cancelOkUs + rng.between(0, 5) * MS;
  const cancel: SipRequest = { ...dialog.invite, method: "CANCEL", headers: [], body: undefined };
  send(scenario, cancelUs, cancel, dialog.forward);
  respond(scenario, cancelOkUs, cancel, calleeResponse(dialog, 200), backward);
  respond(scenario, terminatedUs, dialog.invite, calleeResponse(dialog, 487), backward);
  send(scenario, terminatedUs + rng.between(1, 20) * MS, ackForFailure(dialog), dialog.forward);
  truth.finalStatus = 487;
}

const RTP_PTIME_US = 20 * MS;
const RTP_PAYLOAD_BYTES = 160; // 20 ms of G.711
const rtpPacket = Buffer.alloc(12 + RTP_PAYLOAD_BYTES, 0x80); // version 2 in byte 0, overwritten after

function planMedia(scenario: Scenario, dialog: Dialog, fromUs: number, untilUs: number): number {
  const packets = Math.min(scenario.sim.options.rtpPacketsPerDirection, Math.floor((untilUs - fromUs) / RTP_PTIME_US) - 1);
  const towardsCallee = { ...dialog.forward, src: { ...dialog.forward.src, port: dialog.caller.rtpPort }, dst: { ...dialog.forward.dst, port: dialog.callee.rtpPort } };
  planRtpStream(scenario, towardsCallee, dialog.payloadType, fromUs + scenario.rng.between(1, 20) * MS, packets);
  planRtpStream(scenario, reverse(towardsCallee), dialog.payloadType, fromUs + scenario.rng.between(1, 20) * MS, packets);
  return 0;
}

function planRtpStream(scenario: Scenario, flow: Flow, payloadType: number, firstUs: number, packets: number): void {
  const { rng, sim } = scenario;
  const ssrc = rng.u32();
  const firstSequence = rng.below(65536);
  const firstTimestamp = rng.u32();
  // Up to 2 ms of network jitter; never enough to reorder packets 20 ms apart.
  const timeOf = (index: number): number => firstUs + index * RTP_PTIME_US + rng.below(2000);
  sim.series(packets, timeOf, (out, timeUs, index) => {
    rtpPacket[1] = (index === 0 ? 0x80 : 0) | payloadType; // marker on the first packet
    rtpPacket.writeUInt16BE((firstSequence + index) & 0xffff, 2);
    rtpPacket.writeUInt32BE((firstTimestamp + index * RTP_PAYLOAD_BYTES) >>> 0, 4);
    rtpPacket.writeUInt32BE(ssrc, 8);
    sim.copyRandomBytes(rng, rtpPacket, 12);
    writeUdpFrame(out, timeUs, flow, TOS_MEDIA, rtpPacket);
  });
}

// ---------------------------------------------------------------- --media

const MEDIA_SERVER_PORT = 20000;

interface MediaShape {
  mediaServer: boolean;
  multipart: boolean;
}

/** Before the INVITE is sent: a media server answering on one port, SDP inside a multipart body (SIP-I). */
function shapeMedia(scenario: Scenario, dialog: Dialog): MediaShape {
  const { rng } = scenario;
  const mediaServer = dialog.calleeIsProxy && rng.chance(0.3);
  if (mediaServer) dialog.callee.rtpPort = MEDIA_SERVER_PORT;
  const multipart = rng.chance(0.15);
  if (multipart && dialog.invite.body !== undefined) dialog.invite.body = multipartWithSdp(dialog.invite.body, rng);
  return { mediaServer, multipart };
}

interface AnswerTimes {
  progressUs: number;
  answerUs: number;
  ackUs: number;
  byeUs: number;
}

/** A media server sends every call the same SSRC (a replayed prompt): streams differ only by address. */
function mediaServerSsrc(dialog: Dialog): number {
  const mac = dialog.callee.endpoint.host.mac;
  return (0x4d530000 | ((mac[4] ?? 0) << 8) | (mac[5] ?? 0)) >>> 0;
}

/** Early media on a 183, a re-INVITE moving the caller's port, and the audio; returns the CSeqs the re-INVITE took. */
function planRealMedia(scenario: Scenario, dialog: Dialog, times: AnswerTimes, answerSdp: Body, truth: CallTruth, shape: MediaShape): number {
  const { rng } = scenario;
  const backward = reverse(dialog.forward);
  const early = rng.chance(0.3);
  const earlyUs = times.progressUs + rng.between(10, 100) * MS;
  if (early) respond(scenario, earlyUs, dialog.invite, calleeResponse(dialog, 183, [["Contact", `<${dialog.callee.contact}>`]], answerSdp), backward);
  const move = times.byeUs - times.ackUs > 4 * SECOND && rng.chance(0.25) ? planReinvite(scenario, dialog, times, answerSdp) : undefined;
  truth.streams = planCallMedia(scenario, {
    caller: dialog.caller.endpoint.host,
    callee: dialog.callee.endpoint.host,
    vlans: dialog.forward.vlans,
    payloadType: dialog.payloadType,
    callerPort: dialog.caller.rtpPort,
    calleePort: dialog.callee.rtpPort,
    move,
    callerStartUs: times.ackUs + rng.between(1, 20) * MS,
    calleeStartUs: early ? earlyUs + rng.between(5, 30) * MS : times.answerUs + rng.between(1, 20) * MS,
    endUs: times.byeUs,
    calleeSsrc: shape.mediaServer ? mediaServerSsrc(dialog) : undefined,
  });
  truth.media = { callerPort: dialog.caller.rtpPort, calleePort: dialog.callee.rtpPort, movedCallerPort: move?.port ?? null, early, ...shape };
  return move === undefined ? 0 : 1;
}

/** The caller moves its media to a new port mid-call: re-INVITE, 200 with the answer, ACK. */
function planReinvite(scenario: Scenario, dialog: Dialog, times: AnswerTimes, answerSdp: Body): { port: number; callerUs: number; calleeUs: number } {
  const { rng } = scenario;
  const port = rtpPort(rng);
  const cseq = dialog.invite.cseq + 1;
  const reinviteUs = times.ackUs + (times.byeUs - times.ackUs) * (0.3 + 0.3 * rng.float());
  const offer = sdp(dialog.caller.user.name, dialog.caller.endpoint, rng.between(1, 2 ** 31), port, [dialog.payloadType]);
  const reinvite = { ...inDialogRequest(dialog, "INVITE", true, cseq, rng), headers: [["Contact", `<${dialog.caller.contact}>`]] as Header[], body: offer };
  send(scenario, reinviteUs, reinvite, dialog.forward);
  const okUs = reinviteUs + rng.between(5, 50) * MS;
  respond(scenario, okUs, reinvite, { status: 200, toTag: undefined, agent: dialog.callee.agent, headers: [["Contact", `<${dialog.callee.contact}>`]], body: answerSdp }, reverse(dialog.forward));
  const ackUs = okUs + rng.between(1, 20) * MS;
  send(scenario, ackUs, inDialogRequest(dialog, "ACK", true, cseq, rng), dialog.forward);
  return { port, callerUs: ackUs, calleeUs: okUs };
}
