#!/usr/bin/env node
// The `cram` command (package.json "bin"): the CLI in src/cli/main.ts, run in this process through tsx's loader (no
// wrapper process in between, so Ctrl-C and SIGTERM reach the run directly). Node 20.6 or newer.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
