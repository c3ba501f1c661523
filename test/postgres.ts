// A PostgreSQL for the tests: the machine's own on 127.0.0.1:5432 (database
// `test`) when it answers, else one started here with initdb/pg_ctl in a
// temporary directory on a free port, else the reason there is none.
import pg from "pg";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Postgres {
  url: string;
  stop(): void;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function binDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort().reverse();
  return versions.map((v) => join(root, v, "bin")).find((dir) => existsSync(join(dir, "initdb")));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export async function postgres(): Promise<Postgres | string> {
  // SIPHON_TEST_POSTGRES names another server (or, pointing nowhere, tries the fallback).
  const local = process.env.SIPHON_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
  if (await answers(local)) return { url: local, stop: () => undefined };
  const bin = binDir();
  if (bin === undefined) return "no PostgreSQL answers on 127.0.0.1:5432 and no initdb is installed (apt-get install postgresql)";
  const dir = mkdtempSync(join(tmpdir(), "siphon-pg-"));
  chmodSync(dir, 0o777);
  const port = await freePort();
  // initdb refuses to run as root: run the server as the postgres user then.
  const asUser = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  const run = (args: string[]): boolean => spawnSync(asUser[0] ?? args[0], asUser.length ? [...asUser.slice(1), ...args] : args.slice(1), { stdio: "ignore" }).status === 0;
  const data = join(dir, "data");
  const ok = run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust"]) &&
    run([join(bin, "pg_ctl"), "-D", data, "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, "-w", "start"]) &&
    run([join(bin, "createdb"), "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "test"]);
  const stop = (): void => {
    run([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop"]);
    rmSync(dir, { recursive: true, force: true });
  };
  if (!ok) {
    stop();
    return `no PostgreSQL answers on 127.0.0.1:5432 and starting one with ${bin}/initdb failed`;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/test`, stop };
}
