// JSON-lines log to the configured file. Logging never fails a call and never writes to
// stdout or stderr (the kubelet reads both as the command's result); a log file that cannot be
// written is remembered, so that a failing command can say so on its one error line.
import { appendFileSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** The file, shared by a logger and those made from it with `with`. */
interface Sink {
  file: string | undefined;
  writeError?: string;
}

export class Logger {
  private readonly sink: Sink;

  constructor(
    file: string | undefined,
    private readonly base: Record<string, unknown> = {},
    sink?: Sink,
  ) {
    this.sink = sink ?? { file };
  }

  with(fields: Record<string, unknown>): Logger {
    return new Logger(this.sink.file, { ...this.base, ...fields }, this.sink);
  }

  /** Why the log file could not be written (`/var/log/podvlan.log: EACCES`), if a write failed. */
  get writeError(): string | undefined {
    return this.sink.writeError;
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (!this.sink.file) return;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level,
      msg,
      pid: process.pid,
      ...this.base,
      ...fields,
    });
    try {
      appendFileSync(this.sink.file, `${line}\n`, { mode: 0o600 });
    } catch (err) {
      // An unwritable log must not turn a working call into a failure.
      this.sink.writeError ??= `${this.sink.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
}
