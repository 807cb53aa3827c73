/**
 * `compress` (text file → .mem file), `decompress` (.mem → text) and `store add|list|get|rm` (a SQLite store of
 * .mem files). JSON / text on stdout, progress on stderr.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { BackendChoice } from '../engine/backends.ts';
import { readMemoryFile, totalVectors, writeMemoryFile } from '../compress/memory-file.ts';
import { DEFAULTS } from '../compress/defaults.ts';
import { MemoryStore, defaultStorePath } from '../compress/store.ts';
import { checkWritableTarget, readTextFile, writeFileAtomic, type TextEncodingName } from '../files.ts';
import { describeModel } from '../run/model-info.ts';
import { checkMemoryAgainstModel, modelForFile } from '../compress/file-model.ts';
import { formatSeconds, ProgressLine } from '../run/progress.ts';
import { backendOption, encodingOption, integer, positiveInt, positiveNumber } from './options.ts';

function mustExist(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} ${path} does not exist`);
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerCompressorCommands(program: Command): void {
  program
    .command('compress')
    .description('compress a text file into trained vectors of a frozen model (.mem file); prints a JSON summary')
    .requiredOption('--model <m>', 'model folder or bundled model name')
    .requiredOption('--in <file>', 'text file (UTF-8 unless --encoding latin1)')
    .requiredOption('--out <file>', 'where to write the .mem file')
    .option('--max-steps <n>', 'optimisation steps per round at most', String(DEFAULTS.maxSteps))
    .option(
      '--patience <n>',
      'give a segment more vectors after this many steps without a better accuracy',
      String(DEFAULTS.patience),
    )
    .option('--segment-tokens <n>', 'tokens per segment', String(DEFAULTS.segmentTokens))
    .option('--tokens-per-vector <x>', 'starting K = ceil(segment tokens / x)', String(DEFAULTS.tokensPerVector))
    .option('--max-mem <k>', 'largest K per segment or one-sequence text (default: 4 × its tokens)')
    .option('--seed <s>', 'seed of the initial vectors', String(DEFAULTS.seed))
    .addOption(
      new Option(
        '--method <m>',
        'vectors: a .mem file of trained vectors; ac: arithmetic coding driven by the model (an .ac file)',
      )
        .choices(['vectors', 'ac'])
        .default('vectors'),
    )
    .addOption(encodingOption())
    .addOption(backendOption())
    .action(
      async (o: {
        model: string;
        in: string;
        out: string;
        maxSteps: string;
        patience: string;
        segmentTokens: string;
        tokensPerVector: string;
        maxMem?: string;
        seed: string;
        method: string;
        encoding: TextEncodingName;
        backend: BackendChoice;
      }) => {
        // Everything that can fail is checked before compressing (which takes minutes).
        mustExist(o.in, '--in');
        checkWritableTarget(o.out, '--out');
        if (o.method === 'ac') {
          const text = readTextFile(o.in, o.encoding, '--in');
          describeModel(o.model);
          const { openModel } = await import('../cram/compiled-model.ts');
          const { acEncode, serializeAc } = await import('../compress/ac.ts');
          const { compressionBaselines } = await import('../compress/baselines.ts');
          const loaded = await openModel(o.model, { backend: o.backend });
          const t0 = performance.now();
          const f = await acEncode(text, { model: loaded });
          const seconds = (performance.now() - t0) / 1000;
          const bytes = serializeAc(f);
          writeFileAtomic(o.out, bytes);
          const fig = await compressionBaselines(
            loaded.compiled,
            text,
            loaded.tokenizer!.encode(text),
            loaded.tokenizer!.bosId,
            bytes.length,
          );
          process.stdout.write(
            JSON.stringify({
              out: o.out,
              method: 'ac',
              model: loaded.name,
              text_chars: text.length,
              text_bytes: fig.text_bytes,
              tokens: f.header.n_tokens,
              ac_bytes: bytes.length,
              ac_payload_bytes: f.payload.length,
              ac_bits: f.header.bits,
              gzip_bytes: fig.gzip_bytes,
              brotli_bytes: fig.brotli_bytes,
              model_code_bits: fig.model_code_bits,
              model_code_bytes: fig.model_code_bytes,
              seconds: Number(seconds.toFixed(2)),
            }) + '\n',
          );
          await loaded.compiled.release();
          return;
        }
        const seed = integer(o.seed, '--seed');
        const opts = {
          maxSteps: positiveInt(o.maxSteps, '--max-steps'),
          patience: positiveInt(o.patience, '--patience'),
          segmentTokens: positiveInt(o.segmentTokens, '--segment-tokens'),
          tokensPerVector: positiveNumber(o.tokensPerVector, '--tokens-per-vector'),
          maxMem: o.maxMem === undefined ? undefined : positiveInt(o.maxMem, '--max-mem'),
          seed,
        };
        const text = readTextFile(o.in, o.encoding, '--in');
        describeModel(o.model);
        const { openModel } = await import('../cram/compiled-model.ts');
        const { compress } = await import('../compress/compress.ts');
        const loaded = await openModel(o.model, { backend: o.backend });
        const progress = new ProgressLine();
        const mf = await compress(text, {
          ...opts,
          model: loaded,
          onProgress: (p) =>
            progress.update((el) =>
              p.phase === 'verify'
                ? `round ${p.round}: checking greedy regeneration of ${p.active} segment(s)  ${formatSeconds(el)} elapsed`
                : `round ${p.round} (K ${p.kValues.join('/')}): step ${p.stepsDone}/${opts.maxSteps}, ${p.active} segment(s) optimising, ` +
                  `${p.finished} stopped, ${p.exact}/${p.segments} verified exact, accuracy ${p.meanAccuracy.toFixed(3)}  ${formatSeconds(el)} elapsed`,
            ),
        });
        progress.done();
        const bytes = writeMemoryFile(o.out, mf);
        const textBytes = Buffer.byteLength(text, 'utf8');
        const k = totalVectors(mf);
        // Honest figures next to the .mem size: gzip, brotli, and the model's own code length for the same text.
        const { compressionBaselines } = await import('../compress/baselines.ts');
        const fig = await compressionBaselines(
          loaded.compiled,
          text,
          loaded.tokenizer!.encode(text),
          loaded.tokenizer!.bosId,
          bytes,
        );
        process.stdout.write(
          JSON.stringify({
            out: o.out,
            model: mf.model,
            text_chars: mf.textChars,
            text_bytes: textBytes,
            tokens: mf.nTokens,
            segments: mf.segments.length,
            vectors: k,
            tokens_per_vector: k ? Number((mf.nTokens / k).toFixed(3)) : null,
            mem_bytes: bytes,
            text_bytes_per_mem_byte: Number((textBytes / bytes).toFixed(5)),
            gzip_bytes: fig.gzip_bytes,
            brotli_bytes: fig.brotli_bytes,
            model_code_bits: fig.model_code_bits,
            model_code_bytes: fig.model_code_bytes,
            rounds: mf.stats.rounds,
            seconds: mf.stats.seconds,
          }) + '\n',
        );
        await loaded.compiled.release();
      },
    );

  program
    .command('decompress')
    .description('regenerate the text from a .mem file, or decode an .ac file (checked against the stored SHA-256)')
    .argument('<file>', '.mem file')
    .option('--model <m>', 'model folder or bundled name (default: the bundled or hub-cache model the file names)')
    .option('--out <file>', 'write the text here instead of stdout')
    .addOption(backendOption())
    .action(async (file: string, o: { model?: string; out?: string; backend: BackendChoice }) => {
      mustExist(file, '.mem file');
      if (o.out !== undefined) checkWritableTarget(o.out, '--out');
      const { isAcFile, parseAc } = await import('../compress/ac.ts');
      const raw = readFileSync(file);
      if (isAcFile(raw)) {
        // An arithmetic-coded file (compress --method ac).
        const f = parseAc(raw, file);
        const h = f.header;
        const model = modelForFile(
          { model: h.model, modelSha256: h.model_sha256, tokenizerSha256: h.tokenizer_sha256 },
          o.model,
          file,
        );
        describeModel(model);
        const { openModel } = await import('../cram/compiled-model.ts');
        const { acDecode } = await import('../compress/ac.ts');
        const loaded = await openModel(model, { backend: o.backend });
        const text = await acDecode(f, { model: loaded });
        if (o.out) {
          writeFileAtomic(o.out, text);
          process.stderr.write(`${f.header.text_chars} chars written to ${o.out} (SHA-256 verified)\n`);
        } else process.stdout.write(text);
        await loaded.compiled.release();
        return;
      }
      const mf = readMemoryFile(file);
      const model = checkMemoryAgainstModel(mf, o.model, file)!;
      const { openModel } = await import('../cram/compiled-model.ts');
      const { decompress } = await import('../compress/compress.ts');
      const loaded = await openModel(model, { backend: o.backend });
      const progress = new ProgressLine();
      const text = await decompress(mf, {
        model: loaded,
        onProgress: (done, all) =>
          progress.update((el) => `segment ${done}/${all} regenerated  ${formatSeconds(el)} elapsed`),
      });
      progress.done();
      if (o.out) {
        writeFileAtomic(o.out, text);
        process.stderr.write(`${mf.textChars} chars written to ${o.out} (SHA-256 verified)\n`);
      } else process.stdout.write(text);
      await loaded.compiled.release();
    });

  const store = program
    .command('store')
    .description(`a SQLite store of .mem files (default ${defaultStorePath()}; $CRAM_STORE or --store to change)`);
  // Only `add` may create a store; reading a path that holds none is an error (a typo must not make an empty database).
  const withStore = <T>(o: { store?: string }, f: (s: MemoryStore) => T, create = false): T => {
    const s = new MemoryStore({ path: o.store, create });
    try {
      return f(s);
    } finally {
      s.close();
    }
  };

  store
    .command('add')
    .description('add a .mem file; prints its id')
    .argument('<file>', '.mem file')
    .option('--tag <tag>', 'a tag (repeatable)', collect, [] as string[])
    .option('--store <db>', 'store database file')
    .action((file: string, o: { tag: string[]; store?: string }) => {
      mustExist(file, '.mem file');
      // What decompress would refuse is refused here: the file's own checks, then (for a model known by name) the model's.
      checkMemoryAgainstModel(readMemoryFile(file), undefined, file, () =>
        process.stderr.write(
          `warning: ${file}: its model is not bundled nor in the hub cache; added without checking it against the model\n`,
        ),
      );
      const id = withStore(o, (s) => s.add(file, o.tag), true);
      process.stdout.write(`${id}\n`);
    });

  store
    .command('list')
    .description('list stored .mem files (JSON lines with --json)')
    .option('--tag <tag>', 'only entries with this tag')
    .option('--model <m>', 'only entries for this model')
    .option('--json', 'one JSON object per line')
    .option('--store <db>', 'store database file')
    .action((o: { tag?: string; model?: string; json?: boolean; store?: string }) => {
      const { entries, problems } = withStore(o, (s) => s.scan({ tag: o.tag, model: o.model }));
      if (o.json) {
        for (const e of entries) process.stdout.write(JSON.stringify(e) + '\n');
      } else {
        for (const e of entries) {
          process.stdout.write(
            `${e.id}\t${e.model}\t${e.nTokens} tokens\tK=${e.kTotal}\t${e.bytes} bytes\t${e.added}\t${e.tags.join(',')}\n`,
          );
        }
      }
      for (const p of problems) process.stderr.write(`warning: ${p}\n`);
      if (problems.length) {
        process.stderr.write(
          `error: ${problems.length} damaged part(s) of the store were left out of the list; restore it from a backup ` +
            'or export what is readable with `sqlite3 <db> .recover`\n',
        );
        process.exitCode = 1;
      }
    });

  store
    .command('get')
    .description('write a stored .mem file out (to --out, else raw bytes on stdout)')
    .argument('<id>', 'store id (mem-<n>)')
    .option('--out <file>', 'where to write the .mem file')
    .option('--store <db>', 'store database file')
    .action((id: string, o: { out?: string; store?: string }) => {
      if (o.out) checkWritableTarget(o.out, '--out');
      withStore(o, (s) => {
        s.get(id); // validated, and checked against its row, before handing it out
        if (o.out) {
          const n = s.writeTo(id, o.out);
          process.stderr.write(`${id}: ${n} bytes written to ${o.out}\n`);
        } else {
          if (process.stdout.isTTY)
            throw new Error('refusing to write binary .mem bytes to a terminal; give --out <file> or redirect stdout');
          process.stdout.write(s.getBytes(id));
        }
      });
    });

  store
    .command('rm')
    .description('remove a stored .mem file')
    .argument('<id>', 'store id (mem-<n>)')
    .option('--store <db>', 'store database file')
    .action((id: string, o: { store?: string }) => {
      withStore(o, (s) => s.rm(id));
      process.stdout.write(`removed ${id}\n`);
    });
}
