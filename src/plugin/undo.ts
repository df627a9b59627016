// ADD's one rollback mechanism: every step that changes something registers how to undo it right after the change
// (add.ts, l3.ts), and on any failure the steps run newest first. Each one's own failure is collected and does not
// stop the rest.
import { Failures } from './failures.js';

export class Undo {
  private readonly steps: Array<{ what: string; fn: () => void }> = [];

  /** Registers the undo of a change just made; `what` names it in failure reports. */
  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  /** Runs every step, newest first, once; returns what could not be undone. */
  run(): Failures {
    const failures = new Failures();
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      failures.attempt(s.what, s.fn);
    }
    return failures;
  }
}
