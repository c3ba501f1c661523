// OPTIONS keep-alives (phone to proxy or proxy to phone, answered 200) and MESSAGE instant
// messages (UTF-8 text, answered 202 or 200). Takes a Scenario; gives scheduled SIP messages.

import { reverse, type Flow } from "./frames";
import { hostInUri } from "./hosts";
import { ALLOW, nameAddr, renderResponse, uuid, via, type SipRequest, type SipResponse } from "./sip-text";
import { MS, contactUri, pickFamily, send, sipEndpoint, style, userUri, type Scenario } from "./simulation";

export function planOptions(scenario: Scenario): void {
  const { rng, startUs } = scenario;
  const family = pickFamily(scenario);
  const user = rng.pick(family.users);
  const phone = sipEndpoint(user.phone);
  const proxy = sipEndpoint(user.registrar);
  const fromProxy = rng.chance(0.5);
  const flow: Flow = fromProxy ? { src: proxy, dst: phone, vlans: user.phone.vlans } : { src: phone, dst: proxy, vlans: user.phone.vlans };
  const sender = fromProxy ? `sip:keepalive@${hostInUri(proxy.host.ip)}` : userUri(user);
  const target = fromProxy ? contactUri(user, phone) : `sip:${user.domain}`;
  const request: SipRequest = {
    method: "OPTIONS",
    uri: target,
    via: via(flow.src, rng),
    from: `<${sender}>;tag=${rng.hex(10)}`,
    to: `<${target}>`,
    callId: rng.hex(24),
    cseq: rng.between(1, 9999),
    agent: flow.src.host.agent,
    headers: [["Accept", "application/sdp"]],
    body: undefined,
  };
  send(scenario, startUs, request, flow);
  const ok: SipResponse = { status: 200, toTag: rng.hex(10), agent: flow.dst.host.agent, headers: [["Allow", ALLOW], ["Accept", "application/sdp"], ["Supported", "replaces, timer"]], body: undefined };
  scenario.sim.sip(startUs + rng.between(1, 25) * MS, reverse(flow), { status: 200 }, () => renderResponse(request, ok, style(scenario), rng));
}

const MESSAGE_TEXTS = ["Are you free for a call?", "Meeting moved to 3 pm", "Ça marche, à tout à l’heure", "Grüße aus München", "Ok 👍", "Call me back when you can"];

export function planMessage(scenario: Scenario): void {
  const { rng, startUs } = scenario;
  const family = pickFamily(scenario);
  const sender = rng.pick(family.users);
  const recipient = rng.pick(family.users);
  const flow: Flow = { src: sipEndpoint(sender.phone), dst: sipEndpoint(sender.registrar), vlans: sender.phone.vlans };
  const request: SipRequest = {
    method: "MESSAGE",
    uri: userUri(recipient),
    via: via(flow.src, rng),
    from: `${nameAddr(sender.display, userUri(sender))};tag=${rng.hex(10)}`,
    to: nameAddr(recipient.display, userUri(recipient)),
    callId: uuid(rng),
    cseq: rng.between(1, 9999),
    agent: sender.phone.agent,
    headers: [],
    body: { type: "text/plain;charset=UTF-8", text: rng.pick(MESSAGE_TEXTS) },
  };
  send(scenario, startUs, request, flow);
  const status = rng.chance(0.7) ? 202 : 200;
  const response: SipResponse = { status, toTag: rng.hex(10), agent: sender.registrar.agent, headers: [], body: undefined };
  scenario.sim.sip(startUs + rng.between(2, 40) * MS, reverse(flow), { status }, () => renderResponse(request, response, style(scenario), rng));
}
