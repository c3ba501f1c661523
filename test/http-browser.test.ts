// The web view in a real browser (Debian's chromium, headless, driven by
// puppeteer-core): the calls of a fixture capture listed, a ladder's messages
// in order, live updates while a replay runs, markup in SIP headers shown as
// text and never run, control refused without the token and done with it.
// SIPHON_SCREENSHOTS=DIR saves the call list and a ladder there (docs/ has them).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { cleanUp, onCleanup } from "./mosquitto";
import { getJson, hostileCall, HOSTILE_CALL_ID, HOSTILE_FROM, HOSTILE_UA, startSiphon, tokenFile, TOKEN } from "./web";

const CHROMIUM = "/usr/bin/chromium";
const FIXTURE = "fixtures/captures/wireshark.pcap";
const screenshots = process.env.SIPHON_SCREENSHOTS;

async function launch(): Promise<Browser> {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", "--disable-sync", `--user-data-dir=${mkdtempSync(join(tmpdir(), "siphon-chromium-"))}`],
  });
  onCleanup(() => browser.close());
  return browser;
}

// A page that fails the test on anything the packets could make it run.
async function open(browser: Browser, url: string, ran: string[]): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.on("dialog", (d) => { ran.push(`dialog: ${d.message()}`); void d.dismiss(); });
  page.on("pageerror", (e) => ran.push(`page error: ${(e as Error).message}`));
  await page.goto(url);
  await page.waitForSelector("body[data-ready]");
  return page;
}

async function rowIds(page: Page): Promise<string[]> {
  return page.$$eval("#calls tbody tr", (rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ""));
}

async function openLadder(page: Page, id: string): Promise<string[]> {
  await page.$$eval("#calls tbody tr", (rows, want) => {
    (rows.find((r) => (r as HTMLElement).dataset.id === want) as HTMLElement | undefined)?.click();
  }, id);
  await page.waitForFunction((want) => !document.getElementById("ladder-section")!.hidden &&
    document.getElementById("ladder-title")!.textContent!.startsWith(want), {}, id);
  return page.$$eval("#ladder .msg", (groups) => groups.map((g) => g.querySelectorAll("text")[1]?.textContent ?? ""));
}

if (!existsSync(CHROMIUM)) {
  console.log(`browser tests not registered: ${CHROMIUM} is not installed (apt-get install chromium)`);
} else {
  test.after(async () => {
    await cleanUp();
  });

  test("the page lists the calls of a capture; a ladder shows a call's messages in order, each whole on a click", async () => {
    const view = await startSiphon("view", [FIXTURE]);
    const browser = await launch();
    const ran: string[] = [];
    const page = await open(browser, view.base, ran);
    const { body } = await getJson(view.base, "/api/calls");
    const expected = body.calls.map((c: { id: string }) => c.id).sort();
    assert.equal((await rowIds(page)).sort(), expected);
    assert.match(await page.$eval("#control-status", (e) => e.textContent ?? ""), /read-only/);
    if (screenshots) await page.screenshot({ path: join(screenshots, "http-calls.png"), fullPage: false });
    const call = body.calls.find((c: { method: string; messages: number }) => c.method === "INVITE" && c.messages > 3);
    const detail = (await getJson(view.base, `/api/calls/${encodeURIComponent(call.id)}`)).body;
    const labels = await openLadder(page, call.id);
    assert.equal(labels, detail.messages.map((m: { label: string; transport: string }) => `${m.label} (${m.transport})`));
    await page.click("#ladder .msg:nth-of-type(2)");
    await page.waitForFunction(() => document.getElementById("message-text")!.textContent !== "");
    assert.is(await page.$eval("#message-text", (e) => e.textContent), detail.messages[1].text);
    if (screenshots) await (await page.$("#ladder-section"))!.screenshot({ path: join(screenshots, "http-ladder.png") });
    assert.equal(ran, []);
  });

  test("a replay's calls arrive live; markup in their headers is shown as text and runs nothing", async () => {
    const live = await startSiphon("replay", ["-", "--out", "/dev/null", "--http-token-file", tokenFile()]);
    const browser = await launch();
    const ran: string[] = [];
    const page = await open(browser, live.base, ran);
    await page.waitForFunction(() => document.getElementById("live-status")!.textContent === "live");
    assert.equal(await rowIds(page), []);
    const { pcap, labels } = hostileCall();
    live.child.stdin!.write(pcap);
    await page.waitForFunction((id) => [...document.querySelectorAll("#calls tbody tr")].some((r) => (r as HTMLElement).dataset.id === id),
      {}, HOSTILE_CALL_ID);
    await page.waitForFunction(() => document.querySelectorAll("#events li").length > 0);
    const shown = await openLadder(page, HOSTILE_CALL_ID);
    assert.equal(shown, labels.map((l) => `${l} (udp)`));
    await page.click("#ladder .msg");
    await page.waitForFunction(() => document.getElementById("message-text")!.textContent !== "");
    const text = await page.$eval("#message-text", (e) => e.textContent ?? "");
    assert.ok(text.includes(`User-Agent: ${HOSTILE_UA}`), text);
    assert.ok(text.includes(`From: ${HOSTILE_FROM}`), text);
    const row = await page.$$eval("#calls tbody tr td", (cells) => cells.map((c) => c.textContent).join("|"));
    assert.ok(row.includes(HOSTILE_FROM), row);
    const page_ = await page.evaluate(() => ({
      pwned: String((window as unknown as { __pwned?: string }).__pwned),
      scripts: [...document.scripts].map((s) => s.src),
      images: document.images.length,
      bold: document.querySelectorAll("b").length,
    }));
    assert.equal(page_, { pwned: "undefined", scripts: [`${live.base}/app.js`], images: 0, bold: 0 });
    // '..' is a valid Call-ID and a dot segment: the page names calls in the query, so its ladder opens.
    live.child.stdin!.write(hostileCall("..").pcap.subarray(24));   // its records: the stream has its file header
    await page.waitForFunction(() => [...document.querySelectorAll("#calls tbody tr")].some((r) => (r as HTMLElement).dataset.id === ".."));
    assert.equal(await openLadder(page, ".."), labels.map((l) => `${l} (udp)`));
    assert.equal(ran, []);
  });

  test("control from the page: refused without the token and counted, done with it", async () => {
    const live = await startSiphon("replay", ["-", "--out", "/dev/null", "--http-token-file", tokenFile()]);
    const browser = await launch();
    const page = await open(browser, live.base, []);
    await page.waitForSelector("#blocklist input[data-type='msg-probe']");
    await page.click("#blocklist input[data-type='msg-probe']");
    await page.waitForFunction(() => /401/.test(document.getElementById("control-result")!.textContent ?? ""));
    assert.equal((await getJson(live.base, "/api/control")).body.blocklist.blocked, []);
    await page.type("#token", TOKEN);
    await page.click("#blocklist input[data-type='other-ok']");
    await page.waitForFunction(() => /done/.test(document.getElementById("control-result")!.textContent ?? ""));
    assert.equal((await getJson(live.base, "/api/control")).body.blocklist.blocked, ["other-ok"]);
    const counters = (await getJson(live.base, "/api/counters")).body;
    assert.is(counters.http_control_refused_no_token, 1);
    assert.is(counters.http_control_granted, 1);
  });
}

test.run();
