import pino from "pino";

/** Structured JSON logs to stdout. Level from LOG_LEVEL (default info). */
export type Logger = pino.Logger;

export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that writes nothing, for tests and library callers that bring none. */
export const silentLogger: Logger = pino({ level: "silent" });
