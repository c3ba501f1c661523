// Call records into PostgreSQL with `pg`: one row per finished call, the table
// created on first use, rows written in batches (one multi-row INSERT per
// batch, in the background) and keyed by (sensor, call_id) so that a replay of
// the same capture rewrites the same rows instead of adding duplicates. A row
// the database refuses for what it holds is logged, counted and skipped. A
// server lost after the writer connected is reconnected with backoff, its rows
// held meanwhile (bounded); one that cannot be reached at the start, or refuses
// this user, stops the writer. A reader that
// acknowledges its source only once a row is committed (siphon cdr on a topic)
// passes a callback with each event; rows of one call that arrive out of order
// (several consumers) are settled by end_time, not by arrival.
import { checkUrlPort } from "../bounds";
import { pgLibrary } from "../lazy";
import { createLogger, type Logger } from "../log";
import { parseIsoTime, type SipEvent } from "../calls/events";
import type { EventOutput } from "./sink";
import { RECORD_COLUMNS, recordOf, type CallRecord } from "../calls/cdr";
import { RTP_COLUMNS } from "../calls/media";
import { backoff } from "./backoff";

export interface CdrOptions {
  url: string;            // postgres://user[:password]@host[:port]/database[?table=NAME]
  batchRows?: number;     // rows per INSERT (default 500)
  flushMs?: number;       // a partial batch waits at most this long (default 1000)
  queueRows?: number;     // rows queued before the source is held back (default 20000; 4x that are kept while the server is away)
  log?: Logger;           // where refused rows are reported (default: JSON lines on stderr)
  failed?: (err: Error) => void; // the server cannot be reached or used: nothing more will be committed
}

// Called once the event's row is committed (or refused for what it holds, and skipped), or
// at once for an event that makes no row; never when the server fails or the row is dropped.
export type Committed = () => void;

export interface CdrWriter extends EventOutput {
  write(event: SipEvent, json: string, committed?: Committed): void;
  // Writes what is queued as soon as the INSERT in progress, if any, is done (group commit).
  flushSoon(): void;
  written(): number;
  refused(): number;
  summary(): string;
  table: string;
}

const DEFAULT_TABLE = "siphon_calls";
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
// SQLSTATE classes of a refusal for what one row holds: 22 data exception, 23
// integrity constraint, 54 program limit (an index row too large). Any other
// error (connection, authentication, permissions, a missing database) is about
// the server, and every later row would meet it too.
const ROW_REFUSED = /^(22|23|54)[0-9A-Z]{3}$/;
// A serialization failure (40001) or a deadlock (40P01) rolls back one INSERT and says nothing
// of the rows or the server: consumers that share a stream, or one restarted while its old
// INSERT still runs, may meet on the same keys. The INSERT is tried again, a few times.
const RETRYABLE = /^40(001|P01)$/;
const RETRIES = 5;
// A lost connection, as pg reports it: SQLSTATE class 08 (connection exception), 57P01-57P03
// (the server shutting down or not yet accepting), a socket error, or the client's own words
// for a connection that ended under it.
const CONNECTION_LOST = /^(08[0-9A-Z]{3}|57P0[123]|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/;
const CLIENT_GONE = /Connection terminated|not queryable|Client was closed/;
// Rows kept while the server is away, as a multiple of queueRows: reached only by a source that
// does not wait for the writer (live capture); past it the oldest rows are dropped and counted.
const QUEUE_CAP_FACTOR = 4;
const DROPS_LOGGED_EVERY = 10000;
const REFUSALS_LOGGED = 20;   // a flood of hostile calls is counted, not logged line by line
const KEY_LOGGED = 256;       // characters of a refused row's Call-ID in the log

// PostgreSQL text cannot hold U+0000: a NUL from the wire is stored as U+FFFD,
// the character that stands for every byte that is not text (docs/cdr.md). A number
// past its numeric(p,s) column is stored as the column's largest (below).
function storable(value: CallRecord[keyof CallRecord], column: keyof CallRecord): CallRecord[keyof CallRecord] {
  if (typeof value === "number") {
    const max = NUMERIC_MAX.get(column);
    return max === undefined ? value : Math.max(-max, Math.min(max, value));
  }
  return typeof value === "string" && value.includes("\0") ? value.replaceAll("\0", "\ufffd") : value;
}

function lostConnection(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return (typeof code === "string" && CONNECTION_LOST.test(code)) || (typeof message === "string" && CLIENT_GONE.test(message));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type PgClient = InstanceType<ReturnType<typeof pgLibrary>["Client"]>;

function refusesRow(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && ROW_REFUSED.test(code);
}

const COLUMN_TYPES: Record<keyof CallRecord, string> = {
  sensor: "text NOT NULL", call_id: "text NOT NULL", x_cid: "text", session_id: "text", p_charging_vector: "text",
  caller: "text", callee: "text", src_ip: "text", src_port: "integer", dst_ip: "text", dst_port: "integer",
  transport: "text", invite_time: "timestamptz", ringing_time: "timestamptz", answer_time: "timestamptz",
  end_time: "timestamptz", duration_ms: "numeric(15,3)", pdd_ms: "numeric(15,3)", ring_ms: "numeric(15,3)",
  outcome: "text NOT NULL", final_status: "integer", final_reason: "text", reason_header: "text", hangup: "text",
  implied: "boolean NOT NULL", user_agent: "text", key_check: "text", encrypted: "jsonb",
  rtp_codec: "text", rtp_packets_offerer: "bigint", rtp_lost_offerer: "bigint", rtp_jitter_ms_offerer: "numeric(12,3)",
  rtp_max_jitter_ms_offerer: "numeric(12,3)", rtp_packets_answerer: "bigint", rtp_lost_answerer: "bigint",
  rtp_jitter_ms_answerer: "numeric(12,3)", rtp_max_jitter_ms_answerer: "numeric(12,3)",
};

// The largest value of each numeric(p,s) column. The wire can push a figure past it: an SDP
// clock of 1 Hz and RTP timestamps that jump 2^31 give a jitter of 2e12 ms, and PostgreSQL
// refused the whole row (22003, numeric field overflow), so a caller could keep its call out of
// the table. Such a figure is stored saturated.
const NUMERIC_MAX = new Map(Object.entries(COLUMN_TYPES).flatMap(([column, type]) => {
  const m = /^numeric\((\d+),(\d+)\)$/.exec(type);
  return m === null ? [] : [[column, 10 ** (Number(m[1]) - Number(m[2])) - 10 ** -Number(m[2])] as const];
}));

// Columns added after the first release: a table made before them gets them on first use.
const ADDED_COLUMNS: (keyof CallRecord)[] = [...RTP_COLUMNS, "key_check", "encrypted"];

export function schemaSql(table: string): string {
  const columns = RECORD_COLUMNS.map((c) => `  ${c} ${COLUMN_TYPES[c]}`).join(",\n");
  return `CREATE TABLE IF NOT EXISTS ${table} (\n${columns},\n  PRIMARY KEY (sensor, call_id)\n)`;
}

function addedColumnsSql(table: string, missing: (keyof CallRecord)[]): string {
  return `ALTER TABLE ${table} ${missing.map((c) => `ADD COLUMN IF NOT EXISTS ${c} ${COLUMN_TYPES[c]}`).join(", ")}`;
}

// The table comes from ?table= on the URL; pg is given the URL without it.
export function splitCdrUrl(url: string): { connectionString: string; table: string; where: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--cdr: '${url}' is not a URL; use e.g. postgres://postgres@127.0.0.1:5432/siphon`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`--cdr: scheme '${parsed.protocol.replace(/:$/, "")}' is not postgres or postgresql`);
  }
  checkUrlPort(parsed, "--cdr");
  const table = parsed.searchParams.get("table") ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) throw new Error(`--cdr: table '${table}' is not a plain SQL name (letters, digits, _)`);
  parsed.searchParams.delete("table");
  return { connectionString: parsed.toString(), table, where: `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}` };
}

// Two finishing events with one key are two calls that reused a Call-ID (the
// first one's linger over, docs/events.md): the row of the one that ended last
// stays, whichever arrives last, so consumers sharing a stream write what one
// reader in capture order writes. Every finishing event has an end_time.
function insertSql(table: string, rows: number): string {
  const width = RECORD_COLUMNS.length;
  const values = Array.from({ length: rows }, (_, r) => `(${RECORD_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(",")})`);
  const updates = RECORD_COLUMNS.filter((c) => c !== "sensor" && c !== "call_id").map((c) => `${c} = EXCLUDED.${c}`).join(", ");
  return `INSERT INTO ${table} (${RECORD_COLUMNS.join(",")}) VALUES ${values.join(",")} ON CONFLICT (sensor, call_id) DO UPDATE SET ${updates} ` +
    `WHERE ${table}.end_time IS NULL OR ${table}.end_time <= EXCLUDED.end_time`;
}

// The same rule inside one batch, where an INSERT may not touch a row twice.
function endsLater(a: CallRecord, b: CallRecord): boolean {
  return a.end_time === null || b.end_time === null || parseIsoTime(a.end_time) >= parseIsoTime(b.end_time);
}

interface Pending {
  row: CallRecord;
  committed?: Committed;
}

export function cdrWriter(options: CdrOptions): CdrWriter {
  const { connectionString, table, where } = splitCdrUrl(options.url);
  const batchRows = options.batchRows ?? 500;
  const flushMs = options.flushMs ?? 1000;
  const queueRows = options.queueRows ?? 20000;
  const queueCap = queueRows * QUEUE_CAP_FACTOR;
  const log = options.log ?? createLogger({ level: "warn" });
  let client: PgClient | undefined;
  let ready: Promise<PgClient> | undefined;
  let connectedOnce = false;
  let queue: Pending[] = [];
  let written = 0;
  let refused = 0;
  let dropped = 0;
  let reconnects = 0;
  let outage = false;     // the connection was lost and is not back yet
  let inFlight = 0;       // rows taken by the INSERT in progress
  let pumping: Promise<void> | undefined;
  let failure: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  let giveUpAt = Infinity;  // close(): the deadline after which a lost server is not waited for

  const explain = (err: Error): Error => {
    const code = (err as { code?: string }).code;
    return new Error(`cdr: cannot write call records to PostgreSQL at ${where}: ${err.message}${code ? ` (${code})` : ""}; ` +
      "check --cdr URL, that the server is up and that it accepts this user");
  };
  const refuse = (row: CallRecord, err: Error): void => {
    refused++;
    if (refused > REFUSALS_LOGGED) return;
    const code = (err as { code?: string }).code;
    log.warn(`cdr: PostgreSQL at ${where} refused the call record of one call: ${err.message} (${code}); that row is skipped, the others are written` +
      (refused === REFUSALS_LOGGED ? `; further refused rows are only counted (cdr_rows_refused)` : ""),
      { sensor: row.sensor, call_id: row.call_id.slice(0, KEY_LOGGED) });
  };
  // The first failure is logged when it happens (a live capture runs on), and thrown at close.
  const fail = (err: Error): void => {
    if (failure) return;
    failure = explain(err);
    log.error(`${failure.message}; no further call records are written in this run`);
    options.failed?.(failure);
  };

  // ALTER TABLE locks the table against every reader: only a table that lacks a column is altered.
  const addMissingColumns = async (client: PgClient): Promise<void> => {
    const present = await client.query("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
      [table.toLowerCase()]);
    const names = new Set((present.rows as { column_name: string }[]).map((r) => r.column_name));
    const missing = ADDED_COLUMNS.filter((c) => !names.has(c));
    if (missing.length > 0) await client.query(addedColumnsSql(table, missing));
  };

  // CREATE TABLE IF NOT EXISTS is not safe against itself: two writers starting at once (the
  // consumers of one --share group) both find no table, and one fails on pg_type's unique index
  // (23505). A transaction-scoped advisory lock on the table's name lets one create it at a time.
  const createTable = async (client: PgClient): Promise<void> => {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [table]);
      await client.query(schemaSql(table));
      await addMissingColumns(client);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  };

  // A client that meets an error is not used again: the next batch opens another.
  const open = async (): Promise<PgClient> => {
    const opened = new (pgLibrary().Client)({ connectionString }) as PgClient;
    opened.on("error", (err) => {
      if (opened === client) lost(err);
      forget(opened);
    });
    try {
      await opened.connect();
      await createTable(opened);
    } catch (err) {
      forget(opened);
      throw err;
    }
    client = opened;
    connectedOnce = true;
    return opened;
  };
  const connect = (): Promise<PgClient> => {
    ready ??= open();
    return ready;
  };
  const forget = (gone: PgClient): void => {
    if (client === gone || client === undefined) {
      client = undefined;
      ready = undefined;
    }
    gone.end().catch(() => undefined);
  };
  // Said once an outage, whether an INSERT met it or the idle connection did.
  const lost = (err: Error): void => {
    if (outage) return;
    outage = true;
    reconnects++;
    log.warn(`cdr: lost PostgreSQL at ${where}: ${err.message}; reconnecting with backoff, ` +
      `call records wait in memory (up to ${queueCap} rows, then the oldest are dropped and counted)`);
  };

  const insert = async (client: PgClient, rows: CallRecord[], attempt = 0): Promise<void> => {
    try {
      await client.query(insertSql(table, rows.length), rows.flatMap((r) => RECORD_COLUMNS.map((c) => storable(r[c], c))));
    } catch (err) {
      if (attempt >= RETRIES || !RETRYABLE.test(String((err as { code?: unknown }).code))) throw err;
      return insert(client, rows, attempt + 1);
    }
    written += rows.length;
  };

  // One INSERT is all or nothing: when the database refuses a row of it, the
  // halves are tried apart until the refused rows stand alone.
  const insertAround = async (client: PgClient, rows: CallRecord[]): Promise<void> => {
    try {
      await insert(client, rows);
    } catch (err) {
      if (!refusesRow(err)) throw err;
      if (rows.length === 1) return refuse(rows[0], err as Error);
      const half = rows.length >> 1;
      await insertAround(client, rows.slice(0, half));
      await insertAround(client, rows.slice(half));
    }
  };

  // A server lost after the writer had connected (a restart, a failover, a dropped connection)
  // is waited for with backoff and the batch written again: the upsert makes a repeat harmless.
  // A server that never answered, or refuses this user, is the run's failure at once.
  const insertReconnecting = async (rows: CallRecord[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await insertAround(await connect(), rows);
        if (outage) {
          outage = false;
          log.info(`cdr: PostgreSQL at ${where} is back; call records are written again`, { cdr_rows_dropped: dropped });
        }
        return;
      } catch (err) {
        if (!connectedOnce || !lostConnection(err) || Date.now() >= giveUpAt) throw err;
        if (client) forget(client);
        lost(err as Error);
        await sleep(Math.min(backoff(attempt), Math.max(0, giveUpAt - Date.now())));
      }
    }
  };

  // Rows of one batch with the same key would make one INSERT touch a row twice: the one that ended last stays.
  const writeBatch = async (batch: Pending[]): Promise<void> => {
    const byKey = new Map<string, CallRecord>();
    for (const { row } of batch) {
      const key = `${row.sensor}\n${row.call_id}`;
      const held = byKey.get(key);
      if (held === undefined || endsLater(row, held)) byKey.set(key, row);
    }
    await insertReconnecting([...byKey.values()]);
    for (const { committed } of batch) committed?.();
  };

  // One INSERT at a time, each taking what has queued meanwhile (group commit).
  const pump = async (): Promise<void> => {
    while (queue.length > 0 && !failure) {
      const rows = queue.splice(0, batchRows);
      inFlight = rows.length;
      try {
        await writeBatch(rows);
      } catch (err) {
        fail(err as Error);
      }
      inFlight = 0;
    }
  };
  const flush = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    pumping ??= pump().finally(() => { pumping = undefined; });
  };

  // A source that does not wait (live capture) while the server is away: the oldest rows go first.
  const enqueue = (pending: Pending): void => {
    if (queue.length >= queueCap) {
      queue.shift();
      if (dropped++ === 0 || dropped % DROPS_LOGGED_EVERY === 0) {
        log.warn(`cdr: ${dropped} call records dropped: more than ${queueCap} waited for PostgreSQL at ${where} (cdr_rows_dropped)`);
      }
    }
    queue.push(pending);
  };

  return {
    table,
    flushSoon: flush,
    written: () => written,
    refused: () => refused,
    write(event: SipEvent, _json: string, committed?: Committed) {
      if (failure) return;
      const record = recordOf(event);
      if (record === undefined) return committed?.();
      enqueue({ row: record, committed });
      if (queue.length >= batchRows) flush();
      else timer ??= setTimeout(flush, flushMs);
    },
    // Called at the end of every batch of messages: full batches go at once, a partial one waits for the timer.
    flush() {
      if (queue.length >= batchRows) flush();
    },
    backlog() {
      return queue.length + inFlight > queueRows ? pumping : undefined;
    },
    async close(deadline = Infinity) {
      giveUpAt = deadline;
      flush();
      while (pumping) await pumping;
      if (client) await client.end().catch(() => undefined);
      if (failure) throw failure;
    },
    counters: () => ({ cdr_rows_written: written, cdr_rows_queued: queue.length, cdr_rows_refused: refused,
      cdr_rows_dropped: dropped, cdr_reconnects: reconnects }),
    summary: () => `${written} call records written to ${table}` + (refused ? `, ${refused} refused by PostgreSQL and skipped (logged above)` : "") +
      (dropped ? `, ${dropped} dropped while PostgreSQL was away (logged above)` : ""),
  };
}
