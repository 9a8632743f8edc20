/** A RegistrySource held in memory, changed by the test: `set`, `add`, `remove` notify listeners like a real source. */
import { silentLogger } from "../../lib/log";
import { ChangeListeners } from "../../registry/listeners";
import type { DeploymentRecord, RegistrySource, Resolution } from "../../registry/types";

export class MemoryRegistry implements RegistrySource {
  readonly description = "memory:test";
  private readonly records = new Map<string, DeploymentRecord>();
  private readonly listeners = new ChangeListeners();

  constructor(initial: readonly DeploymentRecord[] = []) {
    for (const d of initial) this.records.set(d.id, d);
  }

  async start(): Promise<void> {}
  lookup(id: string): Resolution {
    const d = this.records.get(id);
    return d ? { host: d.host, port: d.port } : undefined;
  }
  list(): DeploymentRecord[] {
    return [...this.records.values()];
  }
  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }
  async close(): Promise<void> {
    this.listeners.clear();
  }

  add(...records: DeploymentRecord[]): void {
    for (const d of records) this.records.set(d.id, d);
    this.notify();
  }
  remove(...ids: string[]): void {
    for (const id of ids) this.records.delete(id);
    this.notify();
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
  private notify(): void {
    this.listeners.notify(silentLogger);
  }
}
