// JSON-lines log to the configured file. Logging never fails a call and never writes to
// stdout or stderr (the kubelet reads both as the command's result).
import { appendFileSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export class Logger {
  constructor(private readonly file: string | undefined, private readonly base: Record<string, unknown> = {}) {}

  with(fields: Record<string, unknown>): Logger {
    return new Logger(this.file, { ...this.base, ...fields });
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (!this.file) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, pid: process.pid, ...this.base, ...fields });
    try {
      appendFileSync(this.file, line + '\n', { mode: 0o600 });
    } catch {
      // An unwritable log must not turn a working call into a failure.
    }
  }

  info(msg: string, fields?: Record<string, unknown>): void { this.log('info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>): void { this.log('warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>): void { this.log('error', msg, fields); }
}
