// Every mutation a command makes registers its undo here first; on failure the undos run in
// reverse, each one best-effort, so a failed call leaves the node as it found it.
import type { Logger } from '../log';

export class UndoStack {
  private readonly steps: { what: string; run: () => Promise<unknown> | unknown }[] = [];

  constructor(private readonly log: Logger) {}

  push(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  async unwind(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
        this.log.info('rolled back', { step: step.what });
      } catch (err) {
        this.log.error('rollback step failed', { step: step.what, error: (err as Error).message });
      }
    }
  }
}
