// The failures of steps that go on past a failure: ADD's rollback, DEL, GC and STATUS collect them here, each as
// the CNI error its step would have thrown, and report them as one CNI error.
import { CniError, listed } from '../cni/errors.js';
import { toCniError } from './errors.js';

export class Failures {
  private readonly list: Array<{ step: string; error: CniError }> = [];

  /** Runs `fn`; a failure is kept as a CNI error named by `step` (toCniError's table) and the caller goes on. */
  attempt(step: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.add(step, err);
    }
  }

  /** Keeps one failure of `step`. */
  add(step: string, err: unknown): void {
    this.list.push({ step, error: toCniError(err, step) });
  }

  get size(): number {
    return this.list.length;
  }

  /** One line per failure: "message (details)". */
  lines(): string[] {
    return this.list.map(({ error: e }) => `${e.message}${e.details ? ` (${e.details})` : ''}`);
  }

  /**
   * The failures as one CNI error, or null when there were none: a single failure as its step threw it; several
   * under the first one's code, msg "<what> failed in N steps", details listing each as "message (details)".
   */
  toError(what: string): CniError | null {
    if (this.list.length === 0) return null;
    if (this.list.length === 1) return this.list[0]!.error;
    return new CniError(this.list[0]!.error.code, `${what} failed in ${this.list.length} steps`, listed(this.lines()));
  }
}
