// Call records in a real PostgreSQL: the rows of a generated capture equal its
// truth, a second replay leaves the same rows, and `siphon cdr` from the
// event file writes the same rows as the sensor did.
import { test } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import { postgres } from "./postgres";
import { Broker, MOSQUITTO, cleanUp, onCleanup, waitFor } from "./mosquitto";
import mqtt from "mqtt";
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { cdrWriter, type CdrOptions } from "../host/sink/postgres";
import { createLogger } from "../host/log";
import type { SipEvent } from "../host/calls/events";

// A TCP relay in front of PostgreSQL that the test can cut (every connection reset, new ones
// refused) and restore on the same port: a server restart as the writer sees it.
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: URL) {}

  async open(): Promise<void> {
    this.server = createServer((inbound) => {
      const outbound = tcpConnect(Number(this.target.port || 5432), this.target.hostname);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  // Every connection reset and the port closed: the writer's next attempts are refused.
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.resetAndDestroy();
    await closed;
  }
}

const database = await postgres();
if (typeof database === "string") {
  console.log(`cdr tests not registered: ${database}`);
} else {
  const directory = mkdtempSync(join(tmpdir(), "siphon-cdr-test-"));
  const workload = join(directory, "calls.pcap");
  const truth = generateWorkload(workloadOptions({ seed: 11, messages: 5000 }), workload);
  const suffix = `${process.pid}_${Date.now()}`;
  const sensorTable = `siphon_test_cdr_${suffix}`;
  const streamTable = `siphon_test_cdr_stream_${suffix}`;
  const topicTable = `siphon_test_cdr_topic_${suffix}`;
  const eventsFile = join(directory, "events.ndjson");
  const tables: string[] = [];
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();

  const siphon = (args: string[]): { status: number | null; stderr: string } => {
    const run = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { encoding: "utf8" });
    return { status: run.status, stderr: run.stderr };
  };
  const replayInto = (table: string): void => {
    const run = siphon(["replay", workload, "--out", "/dev/null", "--events", eventsFile, "--sensor", "cdr-test", "--no-progress",
      "--cdr", `${database.url}?table=${table}`]);
    assert.is(run.status, 0, run.stderr);
  };
  const rows = async (table: string): Promise<Record<string, unknown>[]> => {
    const us = (c: string): string => `(extract(epoch from ${c}) * 1000000)::bigint::text AS ${c}`;
    const result = await client.query(
      `SELECT sensor, call_id, caller, callee, outcome, final_status, hangup, implied, duration_ms::text AS duration_ms, ` +
      `${["invite_time", "ringing_time", "answer_time", "end_time"].map(us).join(", ")} FROM ${table} ORDER BY call_id`);
    return result.rows as Record<string, unknown>[];
  };
  const truthUs = (ms: number | null): string | null => (ms === null ? null : String(Math.round(ms * 1000)));

  test("one row per call, equal to the truth", async () => {
    replayInto(sensorTable);
    const got = await rows(sensorTable);
    assert.is(got.length, truth.calls.length);
    const byId = new Map(got.map((r) => [r.call_id, r]));
    for (const call of truth.calls) {
      const row = byId.get(call.callId);
      assert.ok(row, `a row for ${call.callId}`);
      assert.is(row.sensor, "cdr-test");
      assert.is(row.caller, call.caller);
      assert.is(row.callee, call.callee);
      assert.is(row.outcome, call.outcome);
      assert.is(row.final_status, call.finalStatus);
      assert.is(row.invite_time, truthUs(call.invite));
      assert.is(row.ringing_time, truthUs(call.ringing));
      assert.is(row.answer_time, truthUs(call.answer));
      if (call.outcome === "answered") {
        assert.is(row.end_time, truthUs(call.bye));
        assert.is(Number(row.duration_ms), call.durationMs);
        assert.is(row.hangup, call.hangup);
      } else {
        assert.is(row.duration_ms, null);
        assert.is(row.hangup, null);
      }
    }
  });

  test("replaying the same capture again leaves the same rows", async () => {
    const before = await rows(sensorTable);
    replayInto(sensorTable);
    assert.equal(await rows(sensorTable), before);
  });

  test("siphon cdr from the event file writes the rows the sensor wrote", async () => {
    const run = siphon(["cdr", "--events", eventsFile, "--cdr", `${database.url}?table=${streamTable}`]);
    assert.is(run.status, 0, run.stderr);
    assert.match(run.stderr, `${truth.calls.length} call records written`);
    assert.equal(await rows(streamTable), await rows(sensorTable));
  });

  test("siphon cdr: an event line whose fields have other types is counted as not an event, the rest written, exit 0", async () => {
    const end = readFileSync(eventsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l)).find((e) => e.event.type === "call-end");
    const hostile = [
      { ...end, sip: { ...end.sip, call: { ...end.sip.call, times: null } } },
      { ...end, sip: { ...end.sip, call: { ...end.sip.call, times: undefined } } },
      { ...end, sip: { ...end.sip, call_id: 5 } },
      { ...end, sip: { ...end.sip, call: "x" } },
      { ...end, anonymized: { key_check: "k", encrypted: null } },
      { ...end, rtp: { from_offerer: [] } },
    ].map((e) => JSON.stringify(e));
    const file = join(directory, "hostile-events.ndjson");
    writeFileSync(file, `${hostile.join("\n")}\n${readFileSync(eventsFile, "utf8")}`);
    const table = `siphon_test_cdr_hostile_${suffix}`;
    tables.push(table);
    const run = siphon(["cdr", "--events", file, "--cdr", `${database.url}?table=${table}`]);
    assert.is(run.status, 0, run.stderr);
    assert.match(run.stderr, `${truth.calls.length} call records written to ${table}, 6 lines were not events`);
    assert.not.match(run.stderr, /TypeError|Cannot read|Cannot convert/);
    assert.equal(await rows(table), await rows(sensorTable));
  });

  if (MOSQUITTO === undefined) {
    console.log("cdr: mosquitto is not installed; the siphon cdr --mqtt test is not registered");
  } else {
    test("siphon cdr --mqtt reads events from a topic until SIGTERM, and writes the same rows", async () => {
      const broker = await Broker.start();
      const reader = spawn(process.execPath, ["dist/siphon.mjs", "cdr", "--mqtt", broker.url, "--events", "t/events", "--cdr", `${database.url}?table=${topicTable}`],
        { stdio: ["ignore", "ignore", "pipe"] });
      onCleanup(() => { if (reader.exitCode === null) reader.kill("SIGKILL"); });
      let stderr = "";
      reader.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
      await waitFor("siphon cdr to subscribe", () => stderr.includes("reading events from t/events"));
      const publisher = await mqtt.connectAsync(broker.url);
      for (const line of readFileSync(eventsFile, "utf8").trim().split("\n")) await publisher.publishAsync("t/events", line, { qos: 1 });
      await publisher.endAsync();
      const count = async (): Promise<number> =>
        Number((await client.query(`SELECT count(*) AS n FROM ${topicTable}`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
      let rowsNow = 0;
      const deadline = Date.now() + 90000;  // a last-resort bound: the wait ends when every row is there
      while (rowsNow < truth.calls.length && Date.now() < deadline) {
        rowsNow = await count();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.is(rowsNow, truth.calls.length, "every call's row arrived");
      const exited = new Promise<number | null>((resolve) => reader.on("close", resolve));
      reader.kill("SIGTERM");
      assert.is(await exited, 0, stderr);
      assert.equal(await rows(topicTable), await rows(sensorTable));
    });
  }

  // A writer to a table of its own through a Relay the test can cut, its log kept and waited on.
  const behindRelay = async (name: string, options: Omit<CdrOptions, "url" | "log">) => {
    const table = `siphon_test_cdr_${name}_${suffix}`;
    tables.push(table);
    const relay = new Relay(new URL(database.url));
    await relay.open();
    onCleanup(() => relay.cut());
    const logged: string[] = [];
    let heard: (() => void) | undefined;
    const log = createLogger({ level: "info", write: (line) => { logged.push(line); heard?.(); } });
    const url = new URL(database.url);
    url.host = `127.0.0.1:${relay.port}`;
    url.searchParams.set("table", table);
    const writer = cdrWriter({ ...options, url: url.toString(), log });
    const logSays = (text: string): Promise<void> => new Promise((resolve) => {
      heard = () => { if (logged.some((l) => l.includes(text))) resolve(); };
      heard();
    });
    return { table, relay, writer, logged, logSays };
  };

  test("a connection lost mid-run is made again with backoff: every row is written, the loss logged and counted", async () => {
    let failed: (err: Error) => void = () => undefined;
    const writerFailed = new Promise<never>((_, reject) => { failed = reject; });
    const { table, relay, writer, logged, logSays } = await behindRelay("lost", { batchRows: 40, flushMs: 5, failed: (err) => failed(err) });
    const finishing = readFileSync(eventsFile, "utf8").trim().split("\n").map((line) => JSON.parse(line) as SipEvent)
      .filter((e) => e.event.type === "call-end" || e.event.type === "call-attempt");
    const half = finishing.length >> 1;
    const writeAll = (events: SipEvent[]): Promise<unknown> =>
      Promise.all(events.map((e) => new Promise<void>((committed) => writer.write(e, JSON.stringify(e), committed))));

    await writeAll(finishing.slice(0, half));
    await relay.cut();
    const rest = writeAll(finishing.slice(half));
    await logSays("cdr: lost PostgreSQL at");
    await relay.open();
    await Promise.race([rest, writerFailed]);
    await writer.close(Date.now() + 10000);
    await logSays("is back; call records are written again");
    await relay.cut();

    const n = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    const keys = new Set(finishing.map((e) => e.sip!.call_id));
    assert.is(n, keys.size, `rows after the outage; log: ${logged.join("")}`);
    assert.equal(writer.counters!(), { cdr_rows_written: writer.written(), cdr_rows_queued: 0, cdr_rows_refused: 0, cdr_rows_dropped: 0, cdr_reconnects: 1 });
  });

  test("while the server is away a source that does not wait loses the oldest rows past the bound, counted", async () => {
    // queueRows 5: 20 rows are kept while the server is away (4x), beside the batch being retried.
    const { table, relay, writer, logged, logSays } = await behindRelay("bound", { batchRows: 5, queueRows: 5, flushMs: 5 });
    const byCall = new Map<string, SipEvent>();
    for (const line of readFileSync(eventsFile, "utf8").trim().split("\n")) {
      const e = JSON.parse(line) as SipEvent;
      if (e.event.type === "call-end") byCall.set(e.sip!.call_id!, e);
    }
    const events = [...byCall.values()].slice(0, 65);
    const write = (e: SipEvent): void => writer.write(e, JSON.stringify(e), undefined);
    await new Promise<void>((committed) => {
      for (const e of events.slice(0, 4)) write(e);
      writer.write(events[4], JSON.stringify(events[4]), committed);
    });
    await relay.cut();
    for (const e of events.slice(5)) write(e);   // one batch of 5 taken for its INSERT, 20 kept, 35 dropped
    await logSays("cdr: lost PostgreSQL at");
    await relay.open();
    await writer.close(Date.now() + 10000);
    await relay.cut();
    const kept = (await client.query(`SELECT call_id FROM ${table}`)).rows.map((r: { call_id: string }) => r.call_id).sort();
    const expected = [...events.slice(0, 10), ...events.slice(45)].map((e) => e.sip!.call_id!).sort();
    assert.equal(kept, expected, `rows kept; log: ${logged.join("")}`);
    assert.is(writer.counters!().cdr_rows_dropped, 35);
    assert.match(writer.summary(), "30 call records written");
    assert.match(writer.summary(), "35 dropped while PostgreSQL was away");
    assert.ok(logged.some((l) => l.includes("call records dropped: more than 20 waited")), logged.join(""));
  });

  test("a PostgreSQL that is not there is a clear error after the summary, exit 3 (an output failed)", () => {
    const run = siphon(["cdr", "--events", eventsFile, "--cdr", "postgres://postgres@127.0.0.1:1/none"]);
    assert.is(run.status, 3);
    assert.match(run.stderr, /^siphon cdr: \d+ events read, 0 call records written to siphon_calls$/m);
    assert.match(run.stderr, /cdr: cannot write call records to PostgreSQL at 127\.0\.0\.1:1\/none: .*check --cdr URL, that the server is up/);
  });

  test("a bad --cdr URL is a usage error, exit 2", () => {
    const run = siphon(["cdr", "--events", eventsFile, "--cdr", "mysql://x"]);
    assert.is(run.status, 2);
    assert.match(run.stderr, "is not postgres or postgresql");
  });

  test.after(async () => {
    await client.query(`DROP TABLE IF EXISTS ${sensorTable}`);
    await client.query(`DROP TABLE IF EXISTS ${streamTable}`);
    await client.query(`DROP TABLE IF EXISTS ${topicTable}`);
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS ${table}`);
    await cleanUp();
    await client.end();
    database.stop();
    rmSync(directory, { recursive: true, force: true });
  });
}

test.run();
