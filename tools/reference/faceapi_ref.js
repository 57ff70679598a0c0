// faceapi_ref.js: face-api's own face descriptor (dlib ResNet-34) in Node, as the reference
// for facenet.h's engine (tests/golden/faceapi_descriptors.json) and its benchmark peer.
//
//   NODE_PATH=build/node/node_modules node tools/reference/faceapi_ref.js --faceapi PKG_DIR
//       [--backend cpu|wasm] (--inputs FILE.u8 --count N --out OUT.json | --bench N)
//
// PKG_DIR is the unpacked npm @vladmandic/face-api@1.7.15 package; its dist/face-api.node-wasm.js
// runs on @tensorflow/tfjs (+ tfjs-backend-wasm), installed with
//   npm install --prefix build/node @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
// --inputs: N RGB 150x150 images, uint8 HWC, back to back. Each goes through face-api's
// computeFaceDescriptor (its toBatchTensor leaves a 150x150 input unchanged, subtracts the dlib
// mean, divides by 255, runs the net): OUT.json = {"backend", "tfjs", "descriptors": [[128]...]}.
// --bench N: N timed descriptor computations on one fixed input after 3 warm-up runs; prints
// {"backend", "ms_per_face", "runs"} (single thread: the wasm backend is built without threads
// unless asked; the cpu backend is plain JavaScript).
'use strict';
const fs = require('fs');
const path = require('path');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main() {
  const pkg = arg('--faceapi');
  if (!pkg) throw new Error('--faceapi PKG_DIR is required');
  const backend = arg('--backend', 'cpu');
  const faceapi = require(path.resolve(pkg, 'dist/face-api.node-wasm.js'));
  const tf = faceapi.tf;
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    wasm.setWasmPaths(path.join(dir, 'dist') + path.sep);
    if (wasm.setThreadsCount) wasm.setThreadsCount(1);
  }
  if (!(await tf.setBackend(backend))) throw new Error('cannot use tfjs backend ' + backend);
  await tf.ready();
  await faceapi.nets.faceRecognitionNet.loadFromDisk(path.resolve(pkg, 'model'));
  const net = faceapi.nets.faceRecognitionNet;
  const S = 150 * 150 * 3;

  const benchRuns = parseInt(arg('--bench', '0'), 10);
  if (benchRuns > 0) {
    const px = new Int32Array(S);
    let s = 12345;
    for (let i = 0; i < S; i++) { s = (s * 1103515245 + 12345) >>> 0; px[i] = (s >>> 16) & 255; }
    const t = tf.tensor3d(px, [150, 150, 3], 'int32');
    for (let i = 0; i < 3; i++) await net.computeFaceDescriptor(t);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < benchRuns; i++) await net.computeFaceDescriptor(t);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / benchRuns;
    t.dispose();
    process.stdout.write(JSON.stringify({ backend, ms_per_face: ms, runs: benchRuns }) + '\n');
    return;
  }

  const buf = fs.readFileSync(arg('--inputs'));
  const n = parseInt(arg('--count', String(buf.length / S)), 10);
  if (buf.length !== n * S) throw new Error('inputs: ' + buf.length + ' bytes for ' + n + ' images');
  const descriptors = [];
  for (let k = 0; k < n; k++) {
    const px = Int32Array.from(buf.subarray(k * S, (k + 1) * S));
    const t = tf.tensor3d(px, [150, 150, 3], 'int32');
    const d = await net.computeFaceDescriptor(t);
    t.dispose();
    descriptors.push(Array.from(d));
  }
  const out = { backend, tfjs: tf.version_core, descriptors };
  fs.writeFileSync(arg('--out'), JSON.stringify(out));
}

main().catch((e) => { process.stderr.write('faceapi_ref.js: ' + (e && e.message || e) + '\n'); process.exit(1); });
