// Logs: one JSON object per line on stderr, with a time, a level and a message.
// SIP content (message bytes, headers) is passed only through sip(), which
// drops it unless --log-sip was given, so debug logs never leak calls by default.
import { maskUrlPasswords, maskUrlPasswordsIn } from "./redact";

export type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  // The SIP text itself, or a placeholder saying it was withheld.
  sip(text: string): string;
}

export interface LoggerOptions {
  level: Level;
  logSip?: boolean;
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const threshold = RANK[options.level];
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    if (RANK[level] < threshold) return;
    const line = { time: now().toISOString(), level, msg: maskUrlPasswords(msg), ...maskUrlPasswordsIn(fields) as Fields };
    write(JSON.stringify(line) + "\n");
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    sip: (text) => (options.logSip ? text : `<${Buffer.byteLength(text)} bytes of SIP withheld; --log-sip shows them>`),
  };
}

export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
