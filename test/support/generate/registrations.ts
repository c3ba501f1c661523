// Registrations: REGISTER, a 401 digest challenge, REGISTER with credentials and 200, which makes
// a user's binding new, refreshed or deleted (expires 0); a user is not registered again while a
// registration is under way. Takes a Scenario; gives scheduled SIP messages and the
// registration's truth.

import { reverse, type Flow } from "./frames";
import type { Family, User } from "./hosts";
import { ALLOW, nameAddr, renderRequest, renderResponse, via, type Header, type SipRequest, type SipResponse } from "./sip-text";
import { MS, contactUri, pickFamily, sipEndpoint, style, userUri, type Scenario } from "./simulation";
import { epochMs, type RegistrationTruth } from "./truth";

function freeUser(scenario: Scenario, family: Family): User {
  const users = family.users;
  const first = scenario.rng.below(users.length);
  for (let probe = 0; probe < users.length; probe++) {
    const user = users[(first + probe) % users.length] as User;
    if (user.registration.busyUntilUs <= scenario.startUs) return user;
  }
  return users[first] as User;
}

/** REGISTER, 401 challenge, REGISTER with credentials, 200: new, refreshed or deleted binding. */
export function planRegistration(scenario: Scenario): void {
  const { rng, sim, startUs } = scenario;
  const family = pickFamily(scenario);
  const user = freeUser(scenario, family);
  const state = user.registration;
  const action: RegistrationTruth["action"] = !state.registered ? "new" : rng.chance(0.2) ? "deleted" : "refreshed";
  const expires = action === "deleted" ? 0 : rng.pick([600, 1800, 3600]);
  const phone = sipEndpoint(user.phone);
  const flow: Flow = { src: phone, dst: sipEndpoint(user.registrar), vlans: user.phone.vlans };
  const contact = contactUri(user, phone);
  const aor = userUri(user);
  const first: SipRequest = {
    method: "REGISTER",
    uri: `sip:${user.domain}`,
    via: via(phone, rng),
    from: `${nameAddr(user.display, aor)};tag=${rng.hex(10)}`,
    to: nameAddr(user.display, aor),
    callId: state.callId,
    cseq: state.nextCseq,
    agent: user.phone.agent,
    headers: [
      ["Contact", `<${contact}>${action === "deleted" ? ";expires=0" : ""}`],
      ["Expires", String(expires)],
      ["Allow", ALLOW],
    ],
    body: undefined,
  };
  const nonce = rng.hex(32);
  const challenge = `Digest realm="${user.domain}", nonce="${nonce}", algorithm=MD5, qop="auth"`;
  const authorization =
    `Digest username="${user.name}", realm="${user.domain}", nonce="${nonce}", uri="${first.uri}", ` +
    `response="${rng.hex(32)}", algorithm=MD5, cnonce="${rng.hex(16)}", nc=00000001, qop=auth`;
  const second: SipRequest = { ...first, via: via(phone, rng), cseq: first.cseq + 1, headers: [...first.headers, ["Authorization", authorization]] };
  const registrarAgent = user.registrar.agent;
  const challengedUs = startUs + rng.between(2, 30) * MS;
  const retriedUs = challengedUs + rng.between(5, 60) * MS;
  const acceptedUs = retriedUs + rng.between(2, 40) * MS;
  const scenarioRequest = (request: SipRequest, atUs: number): void => sim.sip(atUs, flow, { request: "REGISTER" }, () => renderRequest(request, style(scenario), rng));
  const scenarioResponse = (request: SipRequest, response: SipResponse, atUs: number): void =>
    sim.sip(atUs, reverse(flow), { status: response.status }, () => renderResponse(request, response, style(scenario), rng));
  scenarioRequest(first, startUs);
  scenarioResponse(first, { status: 401, toTag: rng.hex(10), agent: registrarAgent, headers: [["WWW-Authenticate", challenge]], body: undefined }, challengedUs);
  scenarioRequest(second, retriedUs);
  const bindings: Header[] = action === "deleted" ? [] : [["Contact", `<${contact}>;expires=${expires}`]];
  scenarioResponse(second, { status: 200, toTag: rng.hex(10), agent: registrarAgent, headers: bindings, body: undefined }, acceptedUs);
  state.nextCseq += 2;
  state.registered = action !== "deleted";
  state.busyUntilUs = acceptedUs;
  sim.registrations.push({ aor, contact, callId: state.callId, action, expires, time: epochMs(acceptedUs) });
}
