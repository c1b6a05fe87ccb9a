#!/usr/bin/env node
// Launcher of the `dodo-dev` binary (the esbuild/biome layout): the binary itself ships in
// one platform package per OS and CPU (`dodo-dev-<platform>-<arch>`), an optional dependency
// of this one, so npm installs only the matching one. This script finds it, runs it with
// the same arguments and stdio, forwards SIGINT/SIGTERM to it and exits as it exits.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

function binaryPath() {
  if (process.env.DODO_DEV_BINARY) return process.env.DODO_DEV_BINARY;
  const pkg = `dodo-dev-${process.platform}-${process.arch}`;
  const exe = process.platform === 'win32' ? 'dodo-dev.exe' : 'dodo-dev';
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', exe);
  } catch {
    console.error(
      `dodo-dev: no binary for ${process.platform}-${process.arch}: the package ${pkg} is not installed.\n` +
        'Reinstall without --no-optional / --omit=optional, or set DODO_DEV_BINARY to a dodo-dev binary ' +
        '(e.g. from `cargo install dodo-cli`).',
    );
    process.exit(1);
  }
}

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: 'inherit' });
const forward = (signal) => () => {
  if (child.exitCode === null) child.kill(signal);
};
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
child.on('error', (err) => {
  console.error(`dodo-dev: cannot run ${child.spawnfile}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
