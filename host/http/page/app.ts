/// <reference lib="dom" />
// The page's script, bundled for the browser by build.mjs and served as /app.js.
// Everything that came from a packet is put in the page with textContent or an
// SVG text node, never as markup.

interface CallSummary {
  id: string; method: string; state: string; from: string; to: string; start: string; last: string;
  duration?: number; pdd?: number; status?: number; reason?: string; rtp?: unknown; messages: number; recordings: string[];
}
interface LadderMessage { seq: number; time: string; src: string; dst: string; transport: string; label: string; text: string }
interface CallDetail { call: CallSummary; messages: LadderMessage[]; messagesDropped: number; events: unknown[] }
interface ControlState {
  control: boolean; message: string;
  blocklist: { types: string[]; blocked: string[] } | null;
  capture: { filter: string } | null;
  recordings: { address: string; since: string; calls: number }[] | null;
}

const EVENTS_SHOWN = 300;
const calls = new Map<string, CallSummary>();
let sortKey: keyof CallSummary = "start";
let sortDescending = true;
let openCall: string | undefined;
let renderQueued = false;

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return await response.json() as T;
}

function ms(value: number | undefined): string {
  if (value === undefined) return "";
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function rtpText(rtp: unknown): string {
  if (rtp === undefined || rtp === null || typeof rtp !== "object") return "";
  const r = rtp as Record<string, unknown>;
  const parts = ["mos", "loss", "jitter"].filter((k) => typeof r[k] === "number").map((k) => `${k} ${r[k]}`);
  return parts.length > 0 ? parts.join(" ") : JSON.stringify(rtp);
}

function cells(c: CallSummary): string[] {
  return [c.state, c.method, c.from, c.to, c.start.replace("T", " ").replace("Z", ""), ms(c.duration), ms(c.pdd),
    c.status === undefined ? "" : `${c.status} ${c.reason ?? ""}`, rtpText(c.rtp), String(c.messages)];
}

function compare(a: CallSummary, b: CallSummary): number {
  const x = a[sortKey] as unknown;
  const y = b[sortKey] as unknown;
  if (x === y) return 0;
  if (x === undefined) return 1;
  if (y === undefined) return -1;
  const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
  return sortDescending ? -order : order;
}

function renderCalls(): void {
  renderQueued = false;
  const filter = byId<HTMLInputElement>("calls-filter").value.toLowerCase();
  const rows = [...calls.values()].map((c) => ({ c, text: cells(c) }))
    .filter(({ text }) => filter === "" || text.some((t) => t.toLowerCase().includes(filter)));
  rows.sort((a, b) => compare(a.c, b.c));
  const body = document.querySelector("#calls tbody") as HTMLTableSectionElement;
  const fresh = rows.map(({ c, text }) => {
    const tr = element("tr");
    tr.dataset.id = c.id;
    if (c.id === openCall) tr.classList.add("selected");
    text.forEach((t, i) => tr.appendChild(element("td", t, i === 0 ? `state-${c.state}` : undefined)));
    return tr;
  });
  body.replaceChildren(...fresh);
  byId("calls-count").textContent = `(${rows.length} of ${calls.size})`;
  document.querySelectorAll("#calls th").forEach((th) => {
    const key = (th as HTMLElement).dataset.key;
    th.classList.toggle("sorted-asc", key === sortKey && !sortDescending);
    th.classList.toggle("sorted-desc", key === sortKey && sortDescending);
  });
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(renderCalls);
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const LANE_WIDTH = 220;
const ROW_HEIGHT = 30;
const TIME_WIDTH = 110;
const TOP = 40;

function drawLadder(detail: CallDetail): SVGElement {
  const lanes: string[] = [];
  for (const m of detail.messages) for (const a of [m.src, m.dst]) if (!lanes.includes(a)) lanes.push(a);
  const x = (a: string): number => TIME_WIDTH + LANE_WIDTH / 2 + lanes.indexOf(a) * LANE_WIDTH;
  const height = TOP + detail.messages.length * ROW_HEIGHT + 10;
  const root = svg("svg", { width: TIME_WIDTH + lanes.length * LANE_WIDTH, height });
  const defs = svg("defs", {});
  const marker = svg("marker", { id: "arrowhead", markerWidth: 8, markerHeight: 8, refX: 8, refY: 4, orient: "auto" });
  marker.appendChild(svg("path", { d: "M0,0 L8,4 L0,8 z" }));
  defs.appendChild(marker);
  root.appendChild(defs);
  for (const lane of lanes) {
    root.appendChild(svg("text", { x: x(lane), y: 16, "text-anchor": "middle" }, lane));
    root.appendChild(svg("line", { class: "lane", x1: x(lane), y1: 24, x2: x(lane), y2: height }));
  }
  detail.messages.forEach((m, i) => root.appendChild(drawMessage(m, i, x)));
  return root;
}

function drawMessage(m: LadderMessage, i: number, x: (a: string) => number): SVGElement {
  const y = TOP + i * ROW_HEIGHT + 12;
  const request = !/^\d/.test(m.label);
  const group = svg("g", { class: `msg ${request ? "request" : "response"}`, "data-seq": m.seq });
  const [x1, x2] = [x(m.src), x(m.dst)];
  group.appendChild(svg("text", { x: 4, y }, m.time.slice(11, 23)));
  const self = x1 === x2;
  group.appendChild(svg("line", { class: "arrow", x1, y1: y, x2: self ? x1 + 40 : x2 + (x2 > x1 ? -2 : 2), y2: y }));
  group.appendChild(svg("text", { x: self ? x1 + 44 : (x1 + x2) / 2, y: y - 4, "text-anchor": self ? "start" : "middle" },
    `${m.label} (${m.transport})`));
  group.appendChild(svg("rect", { x: Math.min(x1, x2), y: y - 16, width: Math.max(Math.abs(x2 - x1), 60), height: 22, fill: "transparent" }));
  group.addEventListener("click", () => {
    document.querySelectorAll("#ladder .msg.selected").forEach((g) => g.classList.remove("selected"));
    group.classList.add("selected");
    byId("message-text").textContent = m.text;
  });
  return group;
}

// A call named in the query, not the path: the browser drops a path segment '.' or '..' (even as
// %2E%2E), and both are valid Call-IDs.
function callUrl(id: string): string {
  return `/api/calls?id=${encodeURIComponent(id)}`;
}

async function showCall(id: string): Promise<void> {
  openCall = id;
  const detail = await getJson<CallDetail>(callUrl(id));
  byId("ladder-section").hidden = false;
  byId("ladder-title").textContent = `${detail.call.id} (${detail.messages.length} messages${detail.messagesDropped > 0 ? `, ${detail.messagesDropped} not kept` : ""})`;
  byId("ladder").replaceChildren(drawLadder(detail));
  byId("message-text").textContent = "";
  byId("call-events").replaceChildren(...detail.events.map((e) => element("li", JSON.stringify(e))));
  const recordings = byId("call-recordings");
  recordings.replaceChildren(...detail.call.recordings.map((path, n) => {
    const li = element("li");
    const a = element("a", path);
    a.href = `${callUrl(id)}&recording=${n}`;
    li.appendChild(a);
    return li;
  }));
  if (detail.call.recordings.length === 0) recordings.appendChild(element("li", "none named by the call's events"));
  queueRender();
}

function addEvent(json: string): void {
  const list = byId("events");
  list.insertBefore(element("li", json), list.firstChild);
  while (list.children.length > EVENTS_SHOWN) list.lastChild?.remove();
}

function renderCounters(counters: Record<string, number>): void {
  const rows = Object.keys(counters).sort().map((name) => {
    const tr = element("tr", undefined, counters[name] === 0 ? "zero" : undefined);
    tr.appendChild(element("td", name));
    tr.appendChild(element("td", String(counters[name])));
    return tr;
  });
  (document.querySelector("#counters tbody") as HTMLElement).replaceChildren(...rows);
}

async function loadRegistrations(): Promise<void> {
  const { registrations } = await getJson<{ registrations: Record<string, unknown>[] }>("/api/registrations");
  const rows = registrations.map((r) => {
    const tr = element("tr");
    for (const key of ["aor", "contact", "expires", "since", "client", "userAgent"]) tr.appendChild(element("td", String(r[key] ?? "")));
    return tr;
  });
  (document.querySelector("#registrations tbody") as HTMLElement).replaceChildren(...rows);
}

function renderControl(state: ControlState): void {
  byId("control-status").textContent = state.control ? "control: token needed" : "read-only";
  byId("control-message").textContent = state.message;
  byId("control-form").hidden = !state.control;
  if (!state.control) return;
  const box = byId("blocklist");
  box.replaceChildren(...(state.blocklist?.types ?? []).map((type) => {
    const label = element("label");
    const check = element("input");
    check.type = "checkbox";
    check.checked = state.blocklist?.blocked.includes(type) ?? false;
    check.dataset.type = type;
    check.addEventListener("change", () => void sendControl("blocklist", check.checked ? { block: [type] } : { unblock: [type] }));
    label.append(check, ` ${type} `);
    return label;
  }));
  if (state.blocklist === null) box.textContent = "no call events in this run";
  byId("bpf-box").hidden = state.capture === null;
  if (state.capture) byId<HTMLInputElement>("bpf").placeholder = state.capture.filter;
  byId("recordings-active").replaceChildren(...(state.recordings ?? []).map((r) => element("li", `${r.address} since ${r.since}, ${r.calls} calls`)));
}

async function sendControl(what: string, body: unknown): Promise<void> {
  const token = byId<HTMLInputElement>("token").value;
  const result = byId("control-result");
  const response = await fetch(`/api/control/${what}`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body),
  });
  const answer = await response.json() as ControlState & { error?: string };
  result.className = response.ok ? "" : "error";
  result.textContent = response.ok ? `${what}: done` : `${what}: ${response.status} ${answer.error ?? ""}`;
  if (response.ok) renderControl(answer);
}

function connectLive(): void {
  const status = byId("live-status");
  const source = new EventSource("/api/live");
  source.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "badge live";
  });
  source.addEventListener("error", () => {
    status.textContent = "reconnecting";
    status.className = "badge down";
  });
  source.addEventListener("call", (e) => {
    const call = JSON.parse((e as MessageEvent).data) as CallSummary;
    calls.set(call.id, call);
    queueRender();
    if (call.id === openCall) void showCall(call.id);
  });
  source.addEventListener("sip", (e) => {
    const data = (e as MessageEvent).data as string;
    addEvent(data);
    if (data.includes('"binding"')) void loadRegistrations();
  });
  source.addEventListener("counters", (e) => renderCounters(JSON.parse((e as MessageEvent).data) as Record<string, number>));
}

function wire(): void {
  byId("calls-filter").addEventListener("input", queueRender);
  document.querySelectorAll("#calls th[data-key]").forEach((th) => th.addEventListener("click", () => {
    const key = (th as HTMLElement).dataset.key as keyof CallSummary;
    sortDescending = key === sortKey ? !sortDescending : false;
    sortKey = key;
    queueRender();
  }));
  document.querySelector("#calls tbody")?.addEventListener("click", (e) => {
    const row = (e.target as HTMLElement).closest("tr");
    if (row?.dataset.id !== undefined) void showCall(row.dataset.id);
  });
  byId("ladder-close").addEventListener("click", () => {
    openCall = undefined;
    byId("ladder-section").hidden = true;
    queueRender();
  });
  byId("bpf-apply").addEventListener("click", () => void sendControl("bpf", { filter: byId<HTMLInputElement>("bpf").value }));
  const address = (): string => byId<HTMLInputElement>("record-address").value;
  byId("record-start").addEventListener("click", () => void sendControl("recordings", { address: address(), action: "start" }));
  byId("record-stop").addEventListener("click", () => void sendControl("recordings", { address: address(), action: "stop" }));
}

async function start(): Promise<void> {
  wire();
  connectLive();
  const [list, counters, events, control] = await Promise.all([
    getJson<{ calls: CallSummary[] }>("/api/calls"), getJson<Record<string, number>>("/api/counters"),
    getJson<{ events: unknown[] }>("/api/events"), getJson<ControlState>("/api/control")]);
  for (const c of list.calls) if (!calls.has(c.id)) calls.set(c.id, c);
  renderCalls();
  renderCounters(counters);
  for (const e of events.events) addEvent(JSON.stringify(e));
  renderControl(control);
  await loadRegistrations();
  document.body.dataset.ready = "true";
}

void start();
