// siphon cdr as one of several consumers: rows do not depend on which consumer
// reads which event, nor on the order they come in; an event is acknowledged to
// the broker only once its row is committed, so a consumer killed before its
// database answered gets every event again when it comes back under its --client-id.
import { test } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import mqtt from "mqtt";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import { postgres } from "./postgres";
import { cdrWriter, schemaSql } from "../host/sink/postgres";
import { parseEvent } from "../host/calls";
import { Broker, MOSQUITTO, cleanUp, onCleanup, waitFor } from "./mosquitto";

const database = await postgres();

function siphon(args: string[]): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, ["dist/siphon.mjs", ...args], { encoding: "utf8" });
  return { status: run.status, stderr: run.stderr };
}

test("--share needs --mqtt and --client-id, and a group and a topic filter MQTT accepts: usage errors, exit 2", () => {
  const cases: Array<[string[], string]> = [
    [["--events", "e.ndjson", "--share", "g"], "--share and --client-id need --mqtt URL"],
    [["--mqtt", "mqtt://127.0.0.1:1", "--events", "siphon/+/events", "--share", "g"], "--share needs --client-id ID"],
    [["--mqtt", "mqtt://127.0.0.1:1", "--events", "siphon/+/events", "--share", "a/b", "--client-id", "c"], "--share 'a/b': a group name must be non-empty, without /, + or #"],
    [["--mqtt", "mqtt://127.0.0.1:1", "--events", "siphon/#/events"], "--events 'siphon/#/events': not a topic filter"],
    [["--mqtt", "mqtt://127.0.0.1:1", "--events", "siphon/a+/events"], "+ must be a whole level"],
  ];
  for (const [args, message] of cases) {
    const run = siphon(["cdr", ...args, "--cdr", "postgres://postgres@127.0.0.1:1/x"]);
    assert.is(run.status, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});

if (typeof database === "string") {
  console.log(`cdr-share tests not registered: ${database}`);
} else {
  const directory = mkdtempSync(join(tmpdir(), "siphon-cdr-share-"));
  const workload = join(directory, "calls.pcap");
  const truth = generateWorkload(workloadOptions({ seed: 23, messages: 3000 }), workload);
  const eventsFile = join(directory, "events.ndjson");
  const suffix = `${process.pid}_${Date.now()}`;
  const tables: string[] = [];
  const table = (name: string): string => {
    tables.push(`siphon_test_share_${name}_${suffix}`);
    return tables[tables.length - 1];
  };
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const made = siphon(["replay", workload, "--out", "/dev/null", "--events", eventsFile, "--sensor", "share-test", "--no-progress"]);
  if (made.status !== 0) throw new Error(`the replay that makes the events failed: ${made.stderr}`);
  const eventLines = readFileSync(eventsFile, "utf8").trim().split("\n");
  const reference = table("reference");
  const once = siphon(["cdr", "--events", eventsFile, "--cdr", `${database.url}?table=${reference}`]);
  if (once.status !== 0) throw new Error(`siphon cdr from the event file failed: ${once.stderr}`);

  const rows = async (name: string): Promise<Record<string, unknown>[]> =>
    (await client.query(`SELECT * FROM ${name} ORDER BY sensor, call_id`)).rows as Record<string, unknown>[];
  const count = async (name: string): Promise<number> =>
    Number((await client.query(`SELECT count(*) AS n FROM ${name}`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
  // Until the table holds what one reader of the event file wrote: a row count alone can be
  // reached while a later event of a reused Call-ID is still on its way to a consumer.
  const waitForReference = async (name: string, consumers: Consumer[]): Promise<void> => {
    const expected = JSON.stringify(await rows(reference));
    const deadline = Date.now() + 90000;  // a last-resort bound: the wait ends when the rows are there
    // The consumer creates the table with its first row: until then there is nothing to read.
    const now = async (): Promise<string> => JSON.stringify(await rows(name).catch(() => []));
    while (await now() !== expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await rows(name), await rows(reference),
      `rows in ${name} (${await count(name)}); the consumers said: ${consumers.map((c) => c.stderr).join(" | ")}`);
  };

  interface Consumer { child: ChildProcess; stderr: string; exited: Promise<number | null> }
  const consume = async (args: string[]): Promise<Consumer> => {
    const child = spawn(process.execPath, ["dist/siphon.mjs", "cdr", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
    const consumer: Consumer = { child, stderr: "", exited: new Promise((resolve) => child.on("close", resolve)) };
    child.stderr?.on("data", (d: Buffer) => { consumer.stderr += d.toString(); });
    await waitFor("siphon cdr to subscribe", () => consumer.stderr.includes("siphon cdr: reading events from"), () => consumer.stderr);
    return consumer;
  };
  const publish = async (url: string, topic: string, lines: string[]): Promise<void> => {
    const publisher = await mqtt.connectAsync(url, { protocolVersion: 5 });
    for (const line of lines) await publisher.publishAsync(topic, line, { qos: 1 });
    await publisher.endAsync();
  };
  const stop = async (consumer: Consumer): Promise<void> => {
    consumer.child.kill("SIGTERM");
    assert.is(await consumer.exited, 0, consumer.stderr);
  };

  test("two finishing events of one Call-ID: the call that ended last keeps the row, whichever is written last", async () => {
    const name = table("reused");
    const url = `${database.url}?table=${name}`;
    const event = (type: string, outcome: string, end: string): string => JSON.stringify({
      "@timestamp": end, event: { type }, observer: { name: "s" },
      sip: { call_id: "reused@test", response: { status: outcome === "answered" ? 200 : 486, reason: outcome === "answered" ? "OK" : "Busy Here" },
        call: { outcome, times: { invite: "2026-11-22T10:00:00.000000Z", ...(type === "call-end" ? { answer: "2026-11-22T10:00:01.000000Z", end } : {}) } } },
    });
    const early = event("call-attempt", "failed", "2026-11-22T10:00:02.000000Z");
    const late = event("call-end", "answered", "2026-11-22T10:09:00.000000Z");
    const outcome = async (): Promise<string> => (await client.query(`SELECT outcome FROM ${name}`)).rows.map((r) => r.outcome).join();
    const write = (lines: string[]): void => {
      const file = join(directory, "reused.ndjson");
      writeFileSync(file, lines.join("\n") + "\n");
      const run = siphon(["cdr", "--events", file, "--cdr", url]);
      assert.is(run.status, 0, run.stderr);
    };
    write([late, early]);          // one batch
    assert.is(await outcome(), "answered");
    write([early]);                // a later batch, an earlier call
    assert.is(await outcome(), "answered");
    write([event("call-attempt", "cancelled", "2026-11-22T10:10:00.000000Z")]);
    assert.is(await outcome(), "cancelled", "a call that ended later replaces the row");
  });

  test("writers that start at once on a table not made yet: each one creates it or waits, none fails", async () => {
    const attempt = (id: string): string => JSON.stringify({
      "@timestamp": "2026-11-22T10:00:02.000000Z", event: { type: "call-attempt" }, observer: { name: "s" },
      sip: { call_id: id, response: { status: 486, reason: "Busy Here" },
        call: { outcome: "failed", times: { invite: "2026-11-22T10:00:00.000000Z" } } },
    });
    for (let round = 0; round < 6; round++) {
      const name = table(`race${round}`);
      const failures: string[] = [];
      await Promise.all([0, 1, 2, 3].map(async (w) => {
        const writer = cdrWriter({ url: `${database.url}?table=${name}`, flushMs: 1, failed: (err) => void failures.push(err.message) });
        const line = attempt(`race-${round}-${w}@test`);
        writer.write(parseEvent(line)!, line);
        await writer.close(Date.now() + 30000);
      }));
      assert.equal(failures, [], `round ${round}`);
      assert.is(Number((await client.query(`SELECT count(*) AS n FROM ${name}`)).rows[0].n), 4, `round ${round}`);
    }
  });

  test("an INSERT rolled back by a deadlock or a serialization failure is tried again: every row, exit 0", async () => {
    const name = table("deadlock");
    const url = `${database.url}?table=${name}`;
    await client.query(schemaSql(name));
    // The first two INSERTs fail as a deadlock and as a serialization failure would, then they pass.
    await client.query(`CREATE SEQUENCE ${name}_seq`);
    await client.query(`CREATE FUNCTION ${name}_fail() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE n bigint := nextval('${name}_seq'); BEGIN
      IF n = 1 THEN RAISE EXCEPTION 'deadlock for the test' USING ERRCODE = 'deadlock_detected'; END IF;
      IF n = 2 THEN RAISE EXCEPTION 'serialization failure for the test' USING ERRCODE = 'serialization_failure'; END IF;
      RETURN NEW; END $$`);
    await client.query(`CREATE TRIGGER ${name}_fail BEFORE INSERT ON ${name} FOR EACH STATEMENT EXECUTE FUNCTION ${name}_fail()`);
    try {
      const run = siphon(["cdr", "--events", eventsFile, "--cdr", url]);
      assert.is(run.status, 0, run.stderr);
      assert.is(Number((await client.query(`SELECT last_value FROM ${name}_seq`)).rows[0].last_value) >= 3, true, "the failing INSERTs ran");
      assert.equal(await rows(name), await rows(reference));
    } finally {
      await client.query(`DROP TABLE IF EXISTS ${name}`);
      await client.query(`DROP FUNCTION IF EXISTS ${name}_fail()`);
      await client.query(`DROP SEQUENCE IF EXISTS ${name}_seq`);
    }
  });

  if (MOSQUITTO === undefined) {
    console.log("cdr-share: mosquitto is not installed; the consumer tests are not registered");
  } else {
    test("a call's events split between two consumers, one of them reading backwards: the rows one reader writes", async () => {
      const broker = await Broker.start();
      const name = table("split");
      const url = `${database.url}?table=${name}`;
      const a = await consume(["--mqtt", broker.url, "--events", "split/a", "--cdr", url]);
      const b = await consume(["--mqtt", broker.url, "--events", "split/b", "--cdr", url]);
      const [odd, even] = [eventLines.filter((_, i) => i % 2 === 1), eventLines.filter((_, i) => i % 2 === 0).reverse()];
      await Promise.all([publish(broker.url, "split/a", odd), publish(broker.url, "split/b", even)]);
      await waitForReference(name, [a, b]);
      await stop(a);
      await stop(b);
      assert.is(await count(name), truth.calls.length);
    });

    test("nothing acknowledged before its row is committed: killed while its database hangs, restarted, every row is written", async () => {
      const broker = await Broker.start();
      const frozen = await frozenServer();
      onCleanup(() => frozen.close());
      const name = table("killed");
      const common = ["--mqtt", broker.url, "--events", "killed/+/events", "--share", "g", "--client-id", `killed-${suffix}`];
      const hung = await consume([...common, "--cdr", `postgres://postgres@127.0.0.1:${frozen.port}/x?table=${name}`]);
      await publish(broker.url, "killed/share-test/events", eventLines);
      // The writer connects on its first row: the consumer has taken events that finish calls.
      await waitFor("the consumer to reach its (frozen) database", () => frozen.connections() > 0, () => hung.stderr);
      hung.child.kill("SIGKILL");
      await hung.exited;
      const back = await consume([...common, "--cdr", `${database.url}?table=${name}`]);
      assert.match(back.stderr, "(session resumed)");
      await waitForReference(name, [back]);
      await stop(back);
      assert.is(await count(name), truth.calls.length);
    });
  }

  test.after(async () => {
    for (const name of tables) await client.query(`DROP TABLE IF EXISTS ${name}`);
    await cleanUp();
    await client.end();
    database.stop();
    rmSync(directory, { recursive: true, force: true });
  });
}

// A server that accepts connections and never answers: a PostgreSQL that froze.
async function frozenServer(): Promise<{ port: number; connections(): number; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => { sockets.push(socket); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.length,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test.run();
