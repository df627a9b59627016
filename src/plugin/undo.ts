// ADD registers an undo step after each change; on any failure they run newest first, and each one's own
// failure is reported but does not stop the rest.
export class Undo {
  private readonly steps: Array<{ what: string; fn: () => void }> = [];

  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }

  /** Runs every step, newest first; returns the failures as text. */
  run(): string[] {
    const failures: string[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        s.fn();
      } catch (err) {
        failures.push(`${s.what}: ${(err as Error).message}`);
      }
    }
    return failures;
  }
}
