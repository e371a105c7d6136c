#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

// A closed pipe (`tsinfer generate ... | head`) ends the command quietly, as for other CLI tools.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tsinfer: internal error: ${err?.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
