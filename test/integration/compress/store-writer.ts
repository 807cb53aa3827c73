/**
 * Child process for the store concurrency test: `node --import tsx store-writer.ts <db> <label> <count> <startAtMs>`
 * waits until <startAtMs> (so both writers start together, whatever their start-up time), adds <count> files, prints their ids.
 */
import { MemoryStore } from '../../../src/compress/store.ts';
import { syntheticMemoryFile } from '../../compress/synthetic.ts';

const [db, label, count, startAt] = process.argv.slice(2);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const ids: string[] = [];
for (let i = 0; i < Number(count); i++) {
  // A fresh connection per add: opening (WAL pragma, schema) races with the other process too.
  const store = new MemoryStore({ path: db });
  ids.push(store.add(syntheticMemoryFile(`${label}-${i}`), [label, `n${i}`]));
  store.close();
}
process.stdout.write(JSON.stringify(ids) + '\n');
