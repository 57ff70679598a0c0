#!/usr/bin/env node
// Runs a WASI command module (wasm32-wasi, e.g. build/wasm/fnet.wasm) under Node's node:wasi
// with the same arguments, environment and exit code as a native program.
//
//   node tools/wasm/run_wasi.mjs PROGRAM.wasm ARGS...
//   build/wasm/fnet ARGS...            (the same, with PROGRAM = fnet.wasm beside the script)
//
// Files: the host's root is preopened as "/" and PWD is passed in the environment; the
// programs built by tools/wasm/cc.sh change to $PWD first (wasi_cwd.c) (wasi-libc emulates a current
// directory), so relative and absolute paths (weights folder, photos, output files) mean what
// they mean to the native program. Memory: see tools/wasm/cc.sh (fixed size, never grown).
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, ...args] = process.argv.slice(2);
if (!wasmPath) {
    process.stderr.write('usage: run_wasi.mjs PROGRAM.wasm ARGS...\n');
    process.exit(2);
}
const env = { ...process.env, PWD: process.cwd() };
const wasi = new WASI({
    version: 'preview1',
    args: [wasmPath.replace(/^.*\//, '').replace(/\.wasm$/, ''), ...args],
    env,
    preopens: { '/': '/' },
    returnOnExit: true,
});
const module = await WebAssembly.compile(readFileSync(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
let rc;
try {
    rc = wasi.start(instance);
} catch (e) {
    // a trap (unreachable, out-of-bounds access, stack overflow): a crash, as natively
    process.stderr.write(`${wasmPath}: wasm trap: ${e && e.message ? e.message : e}\n`);
    rc = 134;
}
process.exitCode = rc;
