// The call tracker: follows INVITE dialogs, non-INVITE transactions and
// registration bindings through the core's per-message records and reports
// what happened as events (docs/events.md has the rules). Every timer runs on
// capture time, so a replay at any speed gives the events live capture gives.
// Every table has a limit; the oldest entry makes room and is counted.
import { PROBLEM, type Endpoint, type Transport } from "../core/records";
import { type Observed, uriOf, expiresParam } from "./message";
import { TimerHeap, type Timed } from "./timers";
import { BoundedMap } from "./bounded";
import { type SipEvent, type EventType, type Originator, type CallOutcome, type Correlation, isoTime } from "./events";
import { EventDescription, eventObject } from "./description";
import { defaultSettings, type TrackerSettings } from "./settings";

const SECOND = 1_000_000;
const DEFAULT_EXPIRES = 3600; // RFC 3261 §10.2.1.1: a registrar's usual default

type CallState = "early" | "challenged" | "failed" | "established" | "ended";

interface Party {
  client: Endpoint;
  server: Endpoint;
  transport: Transport;
  from: string;
  to: string;
  userAgent: string;
}

interface Call extends Timed, Party {
  kind: "call";
  key: CallKey;
  callId: string;
  state: CallState;
  fromTag: string;
  inviteCseq: number;
  inviteUs: number;   // -1 when the INVITE was not seen
  ringUs: number;
  answerUs: number;
  finalUs: number;    // failure response
  lastUs: number;     // last message in the dialog
  status: number;
  reason: string;
  reasonHeader: string;
  failedTag: string;  // To tag of the failure response: that branch has no dialog
  challenges: number;
  cancelled: boolean;
  implied: boolean;
  legs: Correlation | undefined;
}

interface Transaction extends Timed, Party {
  kind: "transaction";
  key: TransactionKey;
  callId: string;
  method: string;
  cseq: number;
  done: boolean;
  requestUs: number;  // -1 when only the response was seen
  contact: string;    // REGISTER: the request's Contact and Expires
  expires: number;
}

interface Binding extends Timed, Party {
  kind: "binding";
  key: string;
  aor: string;
  contact: string;
  expires: number;
  callId: string;
}

// A 401/407 answered to a non-INVITE request: kept until the retry is seen
// answered, or reported as other-failed when no retry comes.
interface Challenge extends Timed, Party {
  kind: "challenge";
  key: string;
  callKey: CallKey;
  callId: string;
  method: string;
  cseq: number;
  status: number;
  reason: string;
  atUs: number;
  retried: boolean;
  reported: boolean;
}

type Entry = Call | Transaction | Binding | Challenge;

// Calls are found by the core's hash of the Call-ID, so a message of a known call
// decodes no Call-ID; a hand-made summary without one is found by the Call-ID itself.
type CallKey = number | string;

function callKeyOf(m: Observed): CallKey {
  return m.callKey ?? m.callId;
}

// Transactions are found by a number made of the core's Call-ID hash, the CSeq
// number and the method, so finding one builds no string; unknown methods and
// hand-made summaries (no hash) fall back to a string key.
type TransactionKey = number | string;

export interface TrackerCounters {
  messages: number;
  calls_held: number;
  calls_evicted: number;
  bindings_held: number;
  bindings_evicted: number;
  transactions_held: number;
  transactions_evicted: number;
  challenges_held: number;
  challenges_evicted: number;
  timers_armed: number;
  events: number;
}

const CALL_METHODS = new Set(["INVITE", "ACK", "CANCEL", "BYE", "UPDATE", "PRACK"]);
// User-Agent strings of well-known SIP scanners.
const SCANNER = /friendly-scanner|sipvicious|sipcli|sundayddr|iwar|sip-scan|sipsak|smap|pplsip|vaxsipuseragent/i;
const PROBES_REMEMBERED = 4096;
const AGENTS_JUDGED = 4096;

export class Tracker {
  readonly settings: TrackerSettings;
  private readonly timers = new TimerHeap<Entry>();
  private readonly calls: BoundedMap<CallKey, Call>;
  private readonly transactions: BoundedMap<TransactionKey, Transaction>;
  private readonly bindings: BoundedMap<string, Binding>;
  private readonly bindingsOfAor = new Map<string, Set<Binding>>();
  private readonly challenges: BoundedMap<string, Challenge>;
  private readonly challengedCalls = new Map<CallKey, number>();  // challenges held per Call-ID: most messages need no challenge key built
  private readonly probes = new BoundedMap<string, true>(PROBES_REMEMBERED);
  private readonly scanners = new Map<string, boolean>();  // User-Agent -> SCANNER matches: one test per distinct value
  private now = -Infinity;
  private nextCountersUs = -1;
  private sequence = 0;
  private messages = 0;
  private readonly extraCounters: () => Record<string, number>;
  private readonly description = new EventDescription();
  // Where events go as descriptions first (the core's line renderer, host/calls/publish.ts):
  // true when it took the event; otherwise the event is built as an object for `emit`.
  lines: ((d: EventDescription) => boolean) | undefined;

  constructor(
    private readonly emit: (event: SipEvent, atUs: number) => void,
    settings: Partial<TrackerSettings> = {},
    private readonly sensor?: string,
    extraCounters?: () => Record<string, number>,
  ) {
    this.settings = { ...defaultSettings(), ...settings };
    this.extraCounters = extraCounters ?? (() => ({}));
    const disarm = (entry: Entry): void => this.timers.disarm(entry);
    this.calls = new BoundedMap<CallKey, Call>(this.settings.maxCalls, disarm);
    this.transactions = new BoundedMap<TransactionKey, Transaction>(this.settings.maxTransactions, disarm);
    this.challenges = new BoundedMap(this.settings.maxTransactions, (challenge: Challenge) => {
      this.timers.disarm(challenge);
      this.uncount(challenge);
    });
    this.bindings = new BoundedMap(this.settings.maxBindings, (binding: Binding) => {
      this.timers.disarm(binding);
      this.unindex(binding);
    });
  }

  counters(): TrackerCounters {
    return {
      messages: this.messages,
      calls_held: this.calls.size,
      calls_evicted: this.calls.evicted,
      bindings_held: this.bindings.size,
      bindings_evicted: this.bindings.evicted,
      transactions_held: this.transactions.size,
      transactions_evicted: this.transactions.evicted,
      challenges_held: this.challenges.size,
      challenges_evicted: this.challenges.evicted,
      timers_armed: this.timers.size,
      events: this.sequence,
    };
  }

  observe(m: Observed): void {
    this.advance(m.timeUs);
    this.messages++;
    if (m.problems !== 0) this.parseError(m);
    const key = callKeyOf(m);
    if (key === 0 || key === "" || (m.problems & PROBLEM.noCseq) !== 0) return;
    if (m.isRequest && m.userAgent !== "" && this.isScanner(m.userAgent)) this.probe(m);
    const call = this.calls.get(key);
    if (call !== undefined || CALL_METHODS.has(m.method)) this.callMessage(m, call);
    else if (m.isRequest) this.otherRequest(m);
    else this.otherResponse(m);
  }

  // Capture time moves forward only; every timer due by then fires, in order.
  advance(timeUs: number): void {
    if (timeUs <= this.now) return;
    if (this.nextCountersUs < 0 && this.settings.countersSeconds > 0) this.nextCountersUs = timeUs + this.settings.countersSeconds * SECOND;
    for (;;) {
      const entry = this.timers.due(timeUs);
      const countersDue = this.nextCountersUs >= 0 && this.nextCountersUs <= timeUs;
      if (countersDue && (entry === undefined || this.nextCountersUs <= entry.deadline)) {
        if (entry !== undefined) this.timers.arm(entry, entry.deadline);
        // A quiet stretch (or a capture whose clock jumps years) gives one report, not one per period.
        const interval = this.settings.countersSeconds * SECOND;
        const until = Math.min(timeUs, entry?.deadline ?? Infinity);
        this.nextCountersUs += Math.floor((until - this.nextCountersUs) / interval) * interval;
        this.now = this.nextCountersUs;
        this.reportCounters(this.nextCountersUs);
        this.nextCountersUs += this.settings.countersSeconds * SECOND;
        continue;
      }
      if (entry === undefined) break;
      this.now = entry.deadline;
      this.fire(entry);
    }
    this.now = timeUs;
  }

  // End of input: failures waiting out their grace period are final now, and
  // the counters are reported once more, as of the last capture time.
  finish(): void {
    for (const call of this.calls.values()) {
      if (call.state === "failed" || call.state === "challenged") this.callAttempt(call, call.finalUs);
    }
    if (this.settings.countersSeconds > 0 && this.now > -Infinity) this.reportCounters(this.now);
  }

  // ---------------------------------------------------------------- timers

  private fire(entry: Entry): void {
    switch (entry.kind) {
      case "call": return this.callTimeout(entry);
      case "transaction": return this.transactionTimeout(entry);
      case "binding": return this.bindingExpired(entry);
      case "challenge": return this.challengeTimeout(entry);
    }
  }

  private callTimeout(call: Call): void {
    switch (call.state) {
      case "early": return this.callAttempt(call, call.deadline, "timeout");
      case "challenged":
      case "failed": return this.callAttempt(call, call.finalUs);
      case "established": return this.endCall(call, call.lastUs, call.deadline, "timeout");
      case "ended": return this.forgetCall(call);
    }
  }

  private transactionTimeout(tx: Transaction): void {
    if (tx.done) {
      this.transactions.delete(tx.key);
      return;
    }
    this.emitEvent("other-timeout", tx.deadline, tx, tx.callId, {
      request: { method: tx.method },
    });
    tx.done = true;
    this.timers.arm(tx, tx.deadline + this.settings.lingerSeconds * SECOND);
  }

  private bindingExpired(binding: Binding): void {
    this.dropBinding(binding);
    this.emitEvent("reg-expired", binding.deadline, binding, binding.callId, {
      request: { method: "REGISTER" },
      binding: { aor: binding.aor, contact: binding.contact, expires: binding.expires },
    });
  }

  private challengeTimeout(challenge: Challenge): void {
    this.forgetChallenge(challenge);
    if (challenge.retried || challenge.reported) return;
    this.emitEvent("other-failed", challenge.atUs, challenge, challenge.callId, {
      request: { method: challenge.method },
      response: { status: challenge.status, reason: challenge.reason },
    });
  }

  // ---------------------------------------------------------------- calls

  private callMessage(m: Observed, call: Call | undefined): void {
    if (!m.isRequest) {
      if (m.method === "INVITE") this.inviteResponse(call, m);
      else if (call) this.touch(call, m.timeUs);
      return;
    }
    switch (m.method) {
      case "INVITE":
        if (m.toTag === "") this.invite(call, m);
        else this.inDialog(call, m, true);
        return;
      case "BYE": return this.bye(call, m);
      case "CANCEL":
        if (call && (call.state === "early" || call.state === "challenged")) call.cancelled = true;
        return;
      case "UPDATE": return this.inDialog(call, m, m.toTag !== "");
      case "ACK":
        // An ACK with a To tag while no 2xx was seen acknowledges a 2xx that was missed.
        if (call && call.state === "early" && m.toTag !== "" && m.toTag !== call.failedTag) return this.answer(call, m.timeUs, true);
        if (call) this.touch(call, m.timeUs);
        return;
      default:
        if (call) this.touch(call, m.timeUs);
    }
  }

  private invite(call: Call | undefined, m: Observed): void {
    if (call === undefined) {
      const created = this.newCall(m, false);
      created.inviteUs = m.timeUs;
      this.timers.arm(created, m.timeUs + this.settings.inviteSeconds * SECOND);
      return;
    }
    if (call.state === "challenged" && m.cseq > call.inviteCseq) {
      call.state = "early";
      call.inviteCseq = m.cseq;
      this.timers.arm(call, m.timeUs + this.settings.inviteSeconds * SECOND);
    } else if (call.inviteUs < 0 && call.state === "early") {
      // The reply came first (capture from two interfaces): the request still tells who called.
      Object.assign(call, partyOfRequest(m), { inviteUs: m.timeUs, fromTag: m.fromTag });
    }
  }

  // An in-dialog request: it refreshes a known call, and implies the start of
  // one whose 2xx was missed (or that began before the capture).
  private inDialog(call: Call | undefined, m: Observed, implies: boolean): void {
    if (call === undefined) {
      if (!implies) return;
      const created = this.newCall(m, true);
      this.answer(created, m.timeUs, true);
      return;
    }
    if (call.state === "early" || call.state === "challenged" || call.state === "failed") {
      if (implies) this.answer(call, m.timeUs, true);
      return;
    }
    this.touch(call, m.timeUs);
  }

  private inviteResponse(call: Call | undefined, m: Observed): void {
    if (call === undefined) {
      if (m.status === 100) return;
      call = this.newCall(m, false);
      Object.assign(call, partyOfResponse(m), { fromTag: m.fromTag, inviteCseq: m.cseq });
      this.timers.arm(call, m.timeUs + this.settings.inviteSeconds * SECOND);
    }
    this.addLegs(call, m);
    if (m.cseq !== call.inviteCseq && call.state === "established") return this.touch(call, m.timeUs);
    if (m.status < 200) {
      if (m.status > 100 && call.ringUs < 0 && call.state === "early") call.ringUs = m.timeUs;
      return;
    }
    if (m.status < 300) {
      if (call.state === "early" || call.state === "challenged" || call.state === "failed") {
        call.status = m.status;
        call.reason = m.reason;
        this.answer(call, m.timeUs, false);
      } else {
        this.touch(call, m.timeUs);
      }
      return;
    }
    if (call.state !== "early") return;
    call.status = m.status;
    call.reason = m.reason;
    call.reasonHeader = m.reasonHeader;
    call.finalUs = m.timeUs;
    call.failedTag = m.toTag;
    if (call.challenges > 0 && (m.status === 401 || m.status === 407 || m.status === 403)) return this.authFailedCall(call, m.timeUs);
    if (m.status === 401 || m.status === 407) {
      call.challenges++;
      call.state = "challenged";
      this.timers.arm(call, m.timeUs + this.settings.challengeSeconds * SECOND);
      return;
    }
    call.state = "failed";
    this.timers.arm(call, m.timeUs + this.settings.graceSeconds * SECOND);
  }

  private bye(call: Call | undefined, m: Observed): void {
    if (call === undefined) {
      call = this.newCall(m, true);
      this.answer(call, m.timeUs, true);
    } else if (call.state === "ended" || call.state !== "established" && (m.toTag === call.failedTag || m.fromTag === call.failedTag)) {
      return; // a BYE on the branch that failed ends no dialog
    } else if (call.state === "early" && m.fromTag === call.fromTag) {
      // RFC 3261 §15: the caller may end an early dialog with BYE; the call was never answered.
      call.cancelled = true;
      return this.callAttempt(call, m.timeUs);
    } else if (call.state !== "established") {
      this.answer(call, m.timeUs, true);
    }
    const originator: Originator = m.fromTag === call.fromTag ? "caller" : "callee";
    this.endCall(call, m.timeUs, m.timeUs, originator);
  }

  private answer(call: Call, timeUs: number, implied: boolean): void {
    call.state = "established";
    call.answerUs = timeUs;
    call.lastUs = timeUs;
    call.implied = implied;
    this.timers.arm(call, timeUs + this.settings.establishedSeconds * SECOND);
    const setup = call.inviteUs >= 0 ? (timeUs - call.inviteUs) * 1000 : undefined;
    this.emitCall("call-start", call, timeUs, implied ? undefined : "answered", setup);
  }

  private touch(call: Call, timeUs: number): void {
    if (timeUs > call.lastUs) call.lastUs = timeUs;
    if (call.state === "established") this.timers.arm(call, call.lastUs + this.settings.establishedSeconds * SECOND);
  }

  private endCall(call: Call, endUs: number, atUs: number, originator: Originator): void {
    call.state = "ended";
    const duration = (endUs - call.answerUs) * 1000;
    this.emitCall("call-end", call, atUs, "answered", duration, endUs, originator);
    this.timers.arm(call, atUs + this.settings.lingerSeconds * SECOND);
  }

  private callAttempt(call: Call, atUs: number, outcome?: CallOutcome): void {
    const decided = outcome ?? (call.cancelled ? "cancelled" : "failed");
    const setup = call.inviteUs >= 0 ? (atUs - call.inviteUs) * 1000 : undefined;
    this.emitCall("call-attempt", call, atUs, decided, setup);
    call.state = "ended";
    this.timers.arm(call, Math.max(atUs, this.now) + this.settings.lingerSeconds * SECOND);
  }

  private authFailedCall(call: Call, atUs: number): void {
    this.emitCall("auth-failed", call, atUs, "auth-failed", undefined);
    call.state = "ended";
    this.timers.arm(call, atUs + this.settings.lingerSeconds * SECOND);
  }

  private newCall(m: Observed, fromDialogRequest: boolean): Call {
    // Every field in the literal, none spread in: the engine then keeps them all inside the object.
    const call: Call = {
      kind: "call", deadline: 0, heapIndex: -1, key: callKeyOf(m), callId: m.callId, state: "early",
      client: m.src, server: m.dst, transport: m.transport, from: m.from, to: m.to, userAgent: m.isRequest ? m.userAgent : "",
      fromTag: m.fromTag, inviteCseq: m.cseq,
      inviteUs: -1, ringUs: -1, answerUs: -1, finalUs: -1, lastUs: m.timeUs,
      status: 0, reason: "", reasonHeader: "", failedTag: "", challenges: 0, cancelled: false, implied: fromDialogRequest,
      legs: undefined,
    };
    this.addLegs(call, m);
    this.calls.add(call.key, call);
    return call;
  }

  private forgetCall(call: Call): void {
    this.timers.disarm(call);
    this.calls.delete(call.key);
  }

  private addLegs(call: Call, m: Observed): void {
    if (m.xCid === "" && m.sessionId === "" && m.chargingVector === "") return;
    const legs = call.legs ?? {};
    if (m.xCid && !legs.x_cid) legs.x_cid = m.xCid;
    if (m.sessionId && !legs.session_id) legs.session_id = m.sessionId;
    if (m.chargingVector && !legs.p_charging_vector) legs.p_charging_vector = m.chargingVector;
    call.legs = legs;
  }

  private emitCall(type: EventType, call: Call, atUs: number, outcome: CallOutcome | undefined, durationNs: number | undefined,
    endUs?: number, originator?: Originator): void {
    const d = this.describe(type, atUs, call, call.callId, durationNs);
    if (call.inviteUs >= 0) d.times[0] = call.inviteUs;
    if (call.ringUs >= 0) d.times[1] = call.ringUs;
    if (call.answerUs >= 0) d.times[2] = call.answerUs;
    d.times[3] = endUs;
    const decidedUs = call.answerUs >= 0 ? call.answerUs : call.finalUs >= 0 ? call.finalUs : -1;
    d.method = "INVITE";
    if (call.status >= 200) {
      d.status = call.status;
      d.reason = call.reason;
    }
    if (call.reasonHeader && type !== "call-start") d.reasonHeader = call.reasonHeader;
    const firstProgress = call.ringUs >= 0 ? call.ringUs : decidedUs;
    if (call.inviteUs >= 0 && firstProgress >= 0) d.pddUs = firstProgress - call.inviteUs;
    if (call.ringUs >= 0 && decidedUs >= 0) d.ringUs = decidedUs - call.ringUs;
    d.originator = originator;
    d.outcome = outcome ?? "answered";
    d.implied = call.implied;
    d.legs = call.legs;
    this.send(d);
  }

  // ---------------------------------------------------------------- non-INVITE transactions

  private otherRequest(m: Observed): void {
    const key = transactionKey(m);
    const tx = this.transactions.get(key);
    if (tx !== undefined) {
      if (tx.requestUs < 0) Object.assign(tx, partyOfRequest(m), { requestUs: m.timeUs, contact: m.contact, expires: m.expires });
      return;
    }
    const created = this.newTransaction(key, m, partyOfRequest(m));
    created.requestUs = m.timeUs;
    created.contact = m.contact;
    created.expires = m.expires;
    this.timers.arm(created, m.timeUs + this.settings.transactionSeconds * SECOND);
    const challenge = this.challengeOf(m);
    if (challenge !== undefined && m.cseq > challenge.cseq && !challenge.retried) {
      challenge.retried = true;
      this.timers.arm(challenge, m.timeUs + this.settings.challengeSeconds * SECOND);
    }
  }

  private otherResponse(m: Observed): void {
    if (m.status < 200) return;
    const key = transactionKey(m);
    let tx = this.transactions.get(key);
    if (tx === undefined) tx = this.newTransaction(key, m, partyOfResponse(m));
    if (tx.done) return;
    tx.done = true;
    this.timers.arm(tx, m.timeUs + this.settings.lingerSeconds * SECOND);
    const duration = tx.requestUs >= 0 ? (m.timeUs - tx.requestUs) * 1000 : undefined;
    if (m.status === 401 || m.status === 407) return this.challenged(tx, m);
    const response = { status: m.status, reason: m.reason };
    if (m.status < 300) {
      this.dropChallenge(this.challengeOf(m));
      if (tx.method === "REGISTER") return this.registered(tx, m);
      return this.emitEvent("other-ok", m.timeUs, tx, tx.callId, { request: { method: tx.method }, response }, duration);
    }
    const refused = m.status === 403 ? this.challengeOf(m) : undefined;
    if (refused !== undefined && refused.retried && m.cseq > refused.cseq) {
      // A 403 to the request retried with credentials: the credentials were refused.
      refused.retried = false;
      refused.cseq = m.cseq;
      if (refused.reported) return;
      refused.reported = true;
      return this.emitEvent("auth-failed", m.timeUs, tx, tx.callId, { request: { method: tx.method }, response }, duration);
    }
    this.emitEvent("other-failed", m.timeUs, tx, tx.callId, { request: { method: tx.method }, response, reason_header: m.reasonHeader || undefined }, duration);
  }

  // RFC 3261 §22: a first 401/407 is the normal start of authentication; the
  // retried request challenged again is a failed authentication, reported once
  // per Call-ID, method and To URI until a 2xx ends the episode.
  private challenged(tx: Transaction, m: Observed): void {
    const key = challengeKey(m);
    const earlier = this.challengedCalls.has(callKeyOf(m)) ? this.challenges.get(key) : undefined;
    if (earlier !== undefined && earlier.retried && m.cseq > earlier.cseq) {
      if (!earlier.reported) {
        earlier.reported = true;
        const duration = tx.requestUs >= 0 ? (m.timeUs - tx.requestUs) * 1000 : undefined;
        this.emitEvent("auth-failed", m.timeUs, tx, tx.callId, { request: { method: tx.method }, response: { status: m.status, reason: m.reason } }, duration);
      }
      earlier.cseq = m.cseq;
      earlier.retried = false;
      this.timers.arm(earlier, m.timeUs + this.settings.challengeSeconds * SECOND);
      return;
    }
    if (earlier !== undefined) {
      earlier.cseq = Math.max(earlier.cseq, m.cseq);
      return;
    }
    const challenge: Challenge = {
      kind: "challenge", deadline: 0, heapIndex: -1, key, callKey: callKeyOf(m), callId: m.callId, method: tx.method, cseq: m.cseq,
      status: m.status, reason: m.reason, atUs: m.timeUs, retried: false, reported: false,
      client: tx.client, server: tx.server, transport: tx.transport, from: tx.from, to: tx.to, userAgent: tx.userAgent,
    };
    this.challenges.add(key, challenge);
    this.challengedCalls.set(challenge.callKey, (this.challengedCalls.get(challenge.callKey) ?? 0) + 1);
    this.timers.arm(challenge, m.timeUs + this.settings.challengeSeconds * SECOND);
  }

  private challengeOf(m: Observed): Challenge | undefined {
    return this.challengedCalls.has(callKeyOf(m)) ? this.challenges.get(challengeKey(m)) : undefined;
  }

  private dropChallenge(challenge: Challenge | undefined): void {
    if (challenge === undefined) return;
    this.timers.disarm(challenge);
    this.forgetChallenge(challenge);
  }

  private forgetChallenge(challenge: Challenge): void {
    this.challenges.delete(challenge.key);
    this.uncount(challenge);
  }

  private uncount(challenge: Challenge): void {
    const held = (this.challengedCalls.get(challenge.callKey) ?? 1) - 1;
    if (held > 0) this.challengedCalls.set(challenge.callKey, held);
    else this.challengedCalls.delete(challenge.callKey);
  }

  private newTransaction(key: TransactionKey, m: Observed, party: Party): Transaction {
    const tx: Transaction = {
      kind: "transaction", deadline: 0, heapIndex: -1, key, callId: m.callId, method: m.method, cseq: m.cseq,
      done: false, requestUs: -1, contact: "", expires: -1,
      client: party.client, server: party.server, transport: party.transport, from: party.from, to: party.to, userAgent: party.userAgent,
    };
    this.transactions.add(key, tx);
    return tx;
  }

  // ---------------------------------------------------------------- registrations

  // A 2xx to REGISTER (RFC 3261 §10.3): the binding of the request's Contact
  // to the To URI is new, refreshed (silent) or deleted.
  private registered(tx: Transaction, m: Observed): void {
    const aor = uriOf(tx.to || m.to);
    const contactValue = tx.contact || (tx.requestUs < 0 ? m.contact : "");
    if (contactValue === "") return; // a query: bindings listed, none changed
    if (contactValue.trim() === "*") return this.deleteAll(aor, tx, m.timeUs);
    const contact = uriOf(contactValue);
    const requested = expiresParam(contactValue) >= 0 ? expiresParam(contactValue) : tx.expires;
    const granted = requested === 0 ? 0 : grantedExpires(m, contact, requested);
    const key = `${aor}\n${contact}`;
    const held = this.bindings.get(key);
    if (granted === 0) {
      if (held !== undefined) this.dropBinding(held);
      return this.emitEvent("reg-del", m.timeUs, tx, tx.callId, { request: { method: "REGISTER" }, binding: { aor, contact, expires: 0 } });
    }
    const deadline = m.timeUs + (granted + this.settings.expiryGraceSeconds) * SECOND;
    if (held !== undefined) {
      held.expires = granted;
      held.callId = tx.callId;
      this.timers.arm(held, deadline);
      return;
    }
    const binding = this.newBinding(key, aor, contact, granted, tx);
    this.timers.arm(binding, deadline);
    this.emitEvent("reg-new", m.timeUs, binding, tx.callId, { request: { method: "REGISTER" }, binding: { aor, contact, expires: granted } });
  }

  private deleteAll(aor: string, tx: Transaction, atUs: number): void {
    const held = [...(this.bindingsOfAor.get(aor) ?? [])];
    if (held.length === 0) {
      this.emitEvent("reg-del", atUs, tx, tx.callId, { request: { method: "REGISTER" }, binding: { aor, contact: "*", expires: 0 } });
      return;
    }
    for (const binding of held) {
      this.dropBinding(binding);
      this.emitEvent("reg-del", atUs, tx, tx.callId, { request: { method: "REGISTER" }, binding: { aor, contact: binding.contact, expires: 0 } });
    }
  }

  private newBinding(key: string, aor: string, contact: string, expires: number, tx: Transaction): Binding {
    const binding: Binding = {
      kind: "binding", deadline: 0, heapIndex: -1, key, aor, contact, expires, callId: tx.callId,
      client: tx.client, server: tx.server, transport: tx.transport, from: tx.from, to: tx.to, userAgent: tx.userAgent,
    };
    this.bindings.add(key, binding);
    let ofAor = this.bindingsOfAor.get(aor);
    if (ofAor === undefined) this.bindingsOfAor.set(aor, (ofAor = new Set()));
    ofAor.add(binding);
    return binding;
  }

  private dropBinding(binding: Binding): void {
    this.timers.disarm(binding);
    this.bindings.delete(binding.key);
    this.unindex(binding);
  }

  private unindex(binding: Binding): void {
    const ofAor = this.bindingsOfAor.get(binding.aor);
    ofAor?.delete(binding);
    if (ofAor?.size === 0) this.bindingsOfAor.delete(binding.aor);
  }

  // ---------------------------------------------------------------- everything else

  private parseError(m: Observed): void {
    const party = m.isRequest ? partyOfRequest(m) : partyOfResponse(m);
    const d = this.describe("parse-error", m.timeUs, party, m.callId);
    d.problems = m.problems;
    if (m.method) d.method = m.method;
    if (!m.isRequest) {
      d.status = m.status; // status 000 too
      d.reason = m.reason;
    }
    this.send(d);
  }

  private isScanner(userAgent: string): boolean {
    let verdict = this.scanners.get(userAgent);
    if (verdict === undefined) {
      if (this.scanners.size >= AGENTS_JUDGED) this.scanners.clear();
      verdict = SCANNER.test(userAgent);
      this.scanners.set(userAgent, verdict);
    }
    return verdict;
  }

  private probe(m: Observed): void {
    if (this.probes.has(m.callId)) return;
    this.probes.add(m.callId, true);
    this.emitEvent("msg-probe", m.timeUs, partyOfRequest(m), m.callId, { request: { method: m.method } });
  }

  private reportCounters(atUs: number): void {
    this.sequence++;
    this.emit({
      "@timestamp": isoTime(atUs),
      event: { kind: "metric", type: "counters", sequence: this.sequence },
      ...(this.sensor ? { observer: { name: this.sensor } } : {}),
      counters: { ...this.counters(), ...this.extraCounters() },
    }, atUs);
  }

  // The sip members every other event has: its request, response, Reason header and binding.
  private emitEvent(type: EventType, atUs: number, party: Party, callId: string, sip: OtherSip, durationNs?: number): void {
    const d = this.describe(type, atUs, party, callId, durationNs);
    d.method = sip.request.method;
    if (sip.response) {
      d.status = sip.response.status;
      d.reason = sip.response.reason;
    }
    if (sip.reason_header) d.reasonHeader = sip.reason_header;
    if (sip.binding) {
      d.aor = sip.binding.aor;
      d.contact = sip.binding.contact;
      d.expires = sip.binding.expires;
    }
    this.send(d);
  }

  // The description, cleared, with what every event has.
  private describe(type: EventType, atUs: number, party: Party, callId: string, durationNs?: number): EventDescription {
    const d = this.description.clear();
    d.type = type;
    d.atUs = atUs;
    d.durationNs = durationNs;
    d.observer = this.sensor;
    d.callId = callId;
    d.from = party.from;
    d.to = party.to;
    d.client = party.client;
    d.server = party.server;
    d.transport = party.transport;
    d.userAgent = party.userAgent;
    return d;
  }

  // To the line renderer when there is one and it takes the event, else as an object.
  private send(d: EventDescription): void {
    d.sequence = ++this.sequence;
    if (this.lines?.(d)) return;
    this.emit(eventObject(d), d.atUs);
  }
}

interface OtherSip {
  request: { method: string };
  response?: { status: number; reason: string };
  reason_header?: string;
  binding?: { aor: string; contact: string; expires: number };
}

function partyOfRequest(m: Observed): Party {
  return { client: m.src, server: m.dst, transport: m.transport, from: m.from, to: m.to, userAgent: m.isRequest ? m.userAgent : "" };
}

function partyOfResponse(m: Observed): Party {
  return { client: m.dst, server: m.src, transport: m.transport, from: m.from, to: m.to, userAgent: "" };
}

// The hash's top 21 bits take the method's code and its low 32 bits the CSeq number
// times an odd constant: within one Call-ID every (CSeq, method) gets its own key.
function transactionKey(m: Observed): TransactionKey {
  const code = TRANSACTION_METHODS.indexOf(m.method);
  if (m.callKey === undefined || code < 0) return `${m.callId}\n${m.cseq}\n${m.method}`;
  const high = Math.floor(m.callKey / 0x100000000);
  const low = (m.callKey - high * 0x100000000) ^ Math.imul(m.cseq, 0x9e3779b1);
  return ((high ^ (code + 1)) & 0x1fffff) * 0x100000000 + (low >>> 0);
}

const TRANSACTION_METHODS = ["REGISTER", "OPTIONS", "MESSAGE", "NOTIFY", "SUBSCRIBE", "INFO", "REFER", "PUBLISH"];

function challengeKey(m: Observed): string {
  return `${m.callId}\n${m.method}\n${uriOf(m.to)}`;
}

// What the registrar granted (RFC 3261 §10.3 step 8): the 2xx's Contact for
// this binding, else its Expires header, else what was asked, else the default.
function grantedExpires(m: Observed, contact: string, requested: number): number {
  if (m.contact !== "" && uriOf(m.contact) === contact) {
    const param = expiresParam(m.contact);
    if (param >= 0) return param;
  }
  if (m.expires >= 0) return m.expires;
  return requested >= 0 ? requested : DEFAULT_EXPIRES;
}
