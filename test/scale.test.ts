// Past one machine: four sensors replay different generated captures at once
// into one broker, each on its own topics (--events-topic with {sensor}); two
// `siphon cdr --share` consumers split the events; one is killed (SIGKILL)
// once it has taken some rows, and restarted. At the end the table holds
// exactly the calls of the four captures' truth, and each row equals the row a
// plain consumer of every sensor (subscribed beside them) wrote.
import { test } from "uvu";
import * as assert from "uvu/assert";
import pg from "pg";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWorkload, workloadOptions } from "./support/generate";
import type { Truth } from "./support/generate/truth";
import { postgres } from "./postgres";
import { Broker, MOSQUITTO, cleanUp, onCleanup, waitFor } from "./mosquitto";

const SENSORS = 4;
const MESSAGES = 12000;   // per capture: a few thousand events each, enough that the kill falls mid-stream

interface Child { process: ChildProcess; stderr: string; exited: Promise<number | null> }

function run(args: string[]): Child {
  const child = spawn(process.execPath, ["dist/siphon.mjs", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  onCleanup(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
  const c: Child = { process: child, stderr: "", exited: new Promise((resolve) => child.on("close", resolve)) };
  child.stderr?.on("data", (d: Buffer) => { c.stderr += d.toString(); });
  return c;
}

const database = await postgres();
if (typeof database === "string") console.log(`scale test not registered: ${database}`);
else if (MOSQUITTO === undefined) console.log("scale test not registered: mosquitto is not installed (apt-get install mosquitto)");
else {
  const db = database;
  const directory = mkdtempSync(join(tmpdir(), "siphon-scale-"));
  const suffix = `${process.pid}_${Date.now()}`;
  const shared = `siphon_test_scale_${suffix}`;
  const single = `siphon_test_scale_single_${suffix}`;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const captures: Array<{ sensor: string; path: string; truth: Truth }> = [];
  for (let i = 0; i < SENSORS; i++) {
    const path = join(directory, `sensor-${i}.pcap`);
    captures.push({ sensor: `scale-${i}`, path, truth: generateWorkload(workloadOptions({ seed: 41 + i, messages: MESSAGES }), path) });
  }
  const expectedKeys = captures.flatMap((c) => c.truth.calls.map((call) => `${c.sensor} ${call.callId}`)).sort();

  const count = async (table: string): Promise<number> =>
    Number((await client.query(`SELECT count(*) AS n FROM ${table}`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
  const rows = async (table: string): Promise<Record<string, unknown>[]> =>
    ((await client.query(`SELECT * FROM ${table}`)).rows as Record<string, unknown>[]).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  const keyOf = (row: Record<string, unknown>): string => `${row.sensor} ${row.call_id}`;
  const subscribed = (c: Child): Promise<void> =>
    waitFor("siphon cdr to subscribe", () => c.stderr.includes("siphon cdr: reading events from"), () => c.stderr);
  // Polls the table: the event a wait needs is rows committed, never a time.
  const rowsReach = async (table: string, n: number, said: () => string): Promise<number> => {
    let now = 0;
    const deadline = Date.now() + 180000;  // a last-resort bound on a loaded machine
    while ((now = await count(table)) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (now < n) throw new Error(`${table} has ${now} rows, awaited ${n}; ${said()}`);
    return now;
  };

  const insertWaits = async (application: string, said: () => string): Promise<void> => {
    const waiting = async (): Promise<boolean> => (await client.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'INSERT%'", [application])).rowCount !== 0;
    const deadline = Date.now() + 180000;  // a last-resort bound
    while (!(await waiting())) {
      if (Date.now() > deadline) throw new Error(`no INSERT of ${application} waited on the lock; ${said()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test("four sensors, two --share consumers, one killed mid-stream and restarted: exactly the truth's calls, as one consumer writes them", async () => {
    const broker = await Broker.start();
    const filter = "scale/+/events";
    const cdr = (table: string, extra: string[]): Child =>
      run(["cdr", "--mqtt", broker.url, "--events", filter, "--cdr", `${db.url}?table=${table}`, ...extra]);
    // application_name tells the consumers' database sessions apart (pg_stat_activity).
    const consumer = (n: number): Child =>
      cdr(`${shared}&application_name=scale-cdr-${n}`, ["--share", "cdr", "--client-id", `scale-cdr-${n}-${suffix}`]);
    const plain = cdr(single, []);
    const consumers = [consumer(1), consumer(2)];
    for (const c of [plain, ...consumers]) await subscribed(c);

    const sensors = captures.map((c) => run(["replay", c.path, "--sensor", c.sensor, "--no-progress", "--mqtt", broker.url,
      "--topic", "scale/{sensor}/sip", "--events-topic", "scale/{sensor}/events"]));
    const said = (): string => [...sensors, plain, ...consumers].map((c) => c.stderr.trim().split("\n").slice(-2).join(" / ")).join(" | ");

    // A quarter of the rows in, the table is locked: the shared consumers' INSERTs wait while the
    // plain consumer (another table) takes every event, so the broker has handed out the whole
    // stream; consumer 1 is killed holding events it has read and not committed (had it
    // acknowledged them, they would be lost: the test fails so).
    const atKill = await rowsReach(shared, Math.ceil(expectedKeys.length / 4), said);
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${shared} IN SHARE ROW EXCLUSIVE MODE`);
    await insertWaits("scale-cdr-1", said);
    for (const s of sensors) assert.is(await s.exited, 0, s.stderr);
    await rowsReach(single, expectedKeys.length, said);
    consumers[0].process.kill("SIGKILL");
    await consumers[0].exited;
    await locker.query("COMMIT");
    await locker.end();
    console.log(`scale: consumer 1 killed with ${atKill} of ${expectedKeys.length} rows in`);
    assert.ok(atKill < expectedKeys.length, `the kill fell mid-stream: ${atKill} of ${expectedKeys.length} rows were in`);
    consumers[0] = consumer(1);
    await subscribed(consumers[0]);
    assert.match(consumers[0].stderr, "(session resumed)");

    await rowsReach(shared, expectedKeys.length, said);
    for (const c of [plain, ...consumers]) {
      c.process.kill("SIGTERM");
      assert.is(await c.exited, 0, c.stderr);
    }
    const got = await rows(shared);
    assert.equal(got.map(keyOf), expectedKeys, "no gap, no duplicate, nothing else");
    assert.equal(got, await rows(single), "each row as one consumer writes it");
  });

  test.after(async () => {
    await client.query(`DROP TABLE IF EXISTS ${shared}`);
    await client.query(`DROP TABLE IF EXISTS ${single}`);
    await cleanUp();
    await client.end();
    db.stop();
    rmSync(directory, { recursive: true, force: true });
  });
}

test.run();
