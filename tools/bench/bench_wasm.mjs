// bench_wasm.mjs - facenet.wasm (SIMD128 build) against face-api on tfjs' wasm SIMD backend, in
// Node and then in headless Chromium, the same code (tools/bench/wasm_bench_core.mjs) in
// both. Run by tools/bench/bench_wasm.sh (which prepares the photos and the npm packages).
//   NODE_PATH=build/node/node_modules node --experimental-websocket tools/bench/bench_wasm.mjs
//       PHOTOS_DIR [--weights DIR] [--faceapi PKG_DIR] [--rounds 3] [--iters 5] [--json OUT]
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bench } from './wasm_bench_core.mjs';
import { launch, serve } from '../web/cdp.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args.splice(i, 2)[1] : d; };
const weights = opt('--weights', process.env.FNET_WEIGHTS || 'weights');
const faPkg = resolve(opt('--faceapi', 'weights/cache/face-api/package'));
const rounds = Number(opt('--rounds', 3)), iters = Number(opt('--iters', 5));
const jsonOut = opt('--json', 'build/bench_wasm.json');
const dir = args[0] || 'build/web/photos';
const list = JSON.parse(readFileSync(join(dir, 'photos.json'), 'utf8'));
const log = (s) => process.stdout.write(s + '\n');
const results = { wasm_bytes: statSync('build/wasm/facenet.wasm').size, wasm_nosimd_bytes: statSync('build/wasm/facenet-nosimd.wasm').size };

// ---- Node ----
{
  log('node ' + process.version + ':');
  const require = createRequire(import.meta.url);
  const faceapi = require(join(faPkg, 'dist/face-api.node-wasm.js'));
  const tf = faceapi.tf;
  const wasmBackend = require('@tensorflow/tfjs-backend-wasm');
  wasmBackend.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
  if (wasmBackend.setThreadsCount) wasmBackend.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend unavailable');
  await tf.ready();
  for (const n of ['ssdMobilenetv1', 'faceLandmark68Net', 'faceRecognitionNet']) await faceapi.nets[n].loadFromDisk(join(faPkg, 'model'));
  const { createFacenet } = await import(pathToFileURL(resolve('build/wasm/facenet.mjs')));
  const fn = await createFacenet(readFileSync('build/wasm/facenet.wasm'));
  const photos = list.map((p) => ({ ...p, rgb: new Uint8Array(readFileSync(join(dir, p.rgb))) }));
  const simd = tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : null;
  results.node = { ...(await bench({ fn, faceapi, tf, photos, rounds, iters, log, blob: (n) => readFileSync(join(weights, n)) })), tfjs_simd: simd };
}

// ---- headless Chromium ----
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromium)) {
  log(`(chromium not found at ${chromium}: browser part skipped)`);
} else {
  const srv = await serve(['--weights', weights]);
  const b = await launch({ chromium });
  try {
    log(b.version + ':');
    await b.goto(srv.url + 'bench/wasm_bench.html');
    const r = await b.eval(`(async () => {
      const { createFacenet } = await import('/wasm/facenet.mjs');
      const { bench } = await import('/bench/wasm_bench_core.mjs');
      const faceapi = await import('/faceapi/dist/face-api.esm.js');
      const tf = faceapi.tf;
      tf.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend unavailable');
      await tf.ready();
      for (const n of ['ssdMobilenetv1', 'faceLandmark68Net', 'faceRecognitionNet']) await faceapi.nets[n].loadFromUri('/faceapi/model');
      const fn = await createFacenet('/wasm/facenet.wasm');
      const get = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
      const list = await (await fetch('/photos/photos.json')).json();
      const photos = [];
      for (const p of list) photos.push({ ...p, rgb: await get('/photos/' + p.rgb) });
      const blobs = {};
      for (const n of ['hog_frontal.fnet', 'landmarks68.fnet', 'resnet34.fnet']) blobs[n] = await get('/weights/' + n);
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      const res = await bench({ fn, faceapi, tf, photos, rounds: ${rounds}, iters: ${iters}, log: (s) => console.log(s), blob: (n) => blobs[n] });
      return { ...res, tfjs_simd: simd, tfjs_threads: threads, crossOriginIsolated: self.crossOriginIsolated };
    })()`);
    for (const l of b.console) log(l.replace(/^log: /, ''));
    results.chromium = { ...r, version: b.version };
  } finally {
    await b.close();
    srv.stop();
  }
}

// ---- summary ----
const f = (x, d = 1) => (x == null ? '-' : x.toFixed(d));
log('');
log(`facenet.wasm ${(results.wasm_bytes / 1024).toFixed(0)} KB (SIMD128 build), ${(results.wasm_nosimd_bytes / 1024).toFixed(0)} KB (scalar); weights separate`);
log(`${'where'.padEnd(10)} ${'descriptor ms/face'.padStart(26)} ${'ratio'.padStart(6)}   ${'pipeline ms/photo'.padStart(24)} ${'ratio'.padStart(6)}   wasm memory (MB)`);
log(`${''.padEnd(10)} ${'facenet  face-api'.padStart(26)} ${''.padStart(6)}   ${'facenet  face-api'.padStart(24)} ${''.padStart(6)}   facenet face-api`);
for (const k of ['node', 'chromium']) {
  const r = results[k];
  if (!r) continue;
  log(`${k.padEnd(10)} ${f(r.descriptor.ours_ms).padStart(17)} ${f(r.descriptor.faceapi_ms).padStart(8)} ${(f(r.descriptor.ratio, 2) + 'x').padStart(6)}   ` +
    `${f(r.pipeline.ours_ms, 0).padStart(15)} ${f(r.pipeline.faceapi_ms, 0).padStart(8)} ${(f(r.pipeline.ratio, 2) + 'x').padStart(6)}   ` +
    `${f(r.memory.ours_bytes / 1048576, 0).padStart(7)} ${f(r.memory.faceapi_wasm_bytes / 1048576, 0).padStart(8)}`);
}
for (const k of ['node', 'chromium']) {
  const r = results[k];
  if (!r) continue;
  const s = r.pipeline.ours_stages_ms;
  log(`${k}: ours per photo: detect ${f(s.detect, 0)} ms, landmarks ${f(s.landmarks)}, align ${f(s.align)}, embed ${f(s.embed, 0)}; ` +
    `faces found: facenet ${r.pipeline.faces_ours}, face-api ${r.pipeline.faces_faceapi} on ${r.pipeline.photos} photos; ` +
    `tfjs ${r.tfjs} ${r.backend} simd=${r.tfjs_simd}; kernels ${r.isa}; descriptor max |diff| ${r.descriptor_max_abs_diff.toExponential(1)}`);
}
log('(ratio = face-api ms / facenet.wasm ms: above 1, facenet.wasm is faster; one thread each; goals: descriptor >= 3x, pipeline >= 10x)');
writeFileSync(jsonOut, JSON.stringify(results, null, 1));
