/**
 * The change listeners of a registry source. Every source notifies the same way: a listener
 * that throws is logged and the others still run (a throw would otherwise escape a reload
 * nobody awaits and take the process down).
 */
import type { Logger } from "../lib/log";

export class ChangeListeners {
  private readonly listeners = new Set<() => void>();

  /** Subscribes; returns the function that unsubscribes (RegistrySource.onChange's contract). */
  add(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  get size(): number {
    return this.listeners.size;
  }

  notify(logger: Logger): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, "registry change listener threw");
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
