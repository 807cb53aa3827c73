/** The memory service's store at start-up: its lock, its integrity, whose model it holds. */
import { resolve } from 'node:path';
import { defaultStorePath } from '../compress/store.ts';
import { RunLock } from '../run/run-lock.ts';
import { describeModel, sameModel, ServeDb, StoreUnusableError, type ModelIdentity } from './db.ts';

/**
 * Opens the store for a server of `model`: takes its lock (`<store>.serve.lock`: PID, host, start time, heartbeat),
 * checks its integrity, and refuses a store holding another model's memories or jobs unless `allowOtherModels`.
 */
export function openStore(
  o: { store?: string; allowOtherModels?: boolean; model: { name: string } },
  identity: ModelIdentity,
): { db: ServeDb; lock: RunLock; heartbeat: NodeJS.Timeout; others: ModelIdentity[] } {
  const path = o.store ? resolve(o.store) : defaultStorePath();
  const log = (s: string) => process.stderr.write(`serve: ${s}\n`);
  const lock = RunLock.acquireFile(`${path}.serve.lock`, `cram serve --model ${o.model.name}`, log, {
    what: `the store ${path}`,
    why: 'or give this server another --store',
  });
  let db: ServeDb | null = null;
  try {
    db = new ServeDb(path, { primary: true });
    const others = db.models().filter((m) => !sameModel(m, identity));
    if (others.length > 0 && !o.allowOtherModels) {
      throw new StoreUnusableError(
        `the store ${path} holds memories or jobs made by ` +
          `${others.map(describeModel).join(', ')}, not by ${describeModel(identity)}, the model given; ` +
          `start with --model ${others[0].name}, give another --store, ` +
          'or pass --allow-other-models (their memories are then refused per request, never decoded with this model)',
      );
    }
    db.adoptLegacyRows(identity);
    const heartbeat = setInterval(() => lock.refresh(), 10_000);
    heartbeat.unref();
    return { db, lock, heartbeat, others };
  } catch (e) {
    db?.close();
    lock.release();
    throw e;
  }
}
