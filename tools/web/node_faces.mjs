// node_faces.mjs: facenet.wasm's pipeline in Node on the raw RGB photos of tools/web/stb_png.py,
// one JSON line per photo as `build/fnet embed`/`landmarks` print them (boxes, landmarks,
// embedding, plus timing): the Node half of tests/test_web.py. --errors BLOB...: instead, one
// line {"errors": {...}} with what facenet.mjs throws for each damaged blob given, for a
// landmarks blob passed to detect, a bad image, and running out of wasm memory (a
// 3.9 GB allocation, then the detector on a 12000x12000 image), and whether the module
// still works after that.
//   node tools/web/node_faces.mjs [--wasm build/wasm/facenet.wasm] [--weights DIR] PHOTOS_DIR
//   node tools/web/node_faces.mjs [--wasm ...] [--weights DIR] PHOTOS_DIR --errors BLOB...
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args.splice(i, 2)[1] : d; };
const wasm = opt('--wasm', 'build/wasm/facenet.wasm');
const weights = opt('--weights', process.env.FNET_WEIGHTS || 'weights');
const ei = args.indexOf('--errors');
const errors = ei >= 0 ? args.splice(ei).slice(1) : null;
const dir = args[0];
const { createFacenet } = await import(pathToFileURL(join(process.cwd(), 'build/wasm/facenet.mjs')));
const fn = await createFacenet(readFileSync(wasm));
const load = (name) => fn.loadModel(readFileSync(join(weights, name)));
const detector = load('hog_frontal.fnet'), landmarks = load('landmarks68.fnet'), network = load('resnet34.fnet');
if (errors) {
  const t = (f) => {
    try { f(); return { thrown: false }; } catch (e) {
      return { thrown: true, isError: e instanceof Error, code: e.code, codeName: e.codeName, result: e.result, message: e.message };
    }
  };
  const out = { blobs: errors.map((b) => t(() => fn.loadModel(readFileSync(b)))) };
  out.wrong_model = t(() => fn.detect(landmarks, { data: new Uint8Array(100 * 100), width: 100, height: 100, channels: 1 }));
  out.bad_image = t(() => fn.detect(detector, { data: new Uint8Array(0), width: 0, height: 0, channels: 3 }));
  out.oom_alloc = t(() => fn.alloc(3.9e9));
  const s = 12000;
  out.oom_detect = t(() => fn.detect(detector, { data: new Uint8Array(s * s), width: s, height: s, channels: 1 }));
  const p = JSON.parse(readFileSync(join(dir, 'photos.json'), 'utf8'))[0];
  out.after_oom = fn.detect(detector, { data: readFileSync(join(dir, p.rgb)), width: p.width, height: p.height, channels: 3 });
  out.memory = fn.memoryBytes;
  process.stdout.write(JSON.stringify({ errors: out }) + '\n');
  process.exit(0);
}
for (const p of JSON.parse(readFileSync(join(dir, 'photos.json'), 'utf8'))) {
  const data = readFileSync(join(dir, p.rgb));
  const faces = fn.faces({ data, width: p.width, height: p.height, channels: 3 }, { detector, landmarks, network });
  process.stdout.write(JSON.stringify({
    image: p.name, width: p.width, height: p.height,
    faces: faces.map((f) => ({ ...f.box, landmarks: Array.from(f.landmarks), embedding: Array.from(f.embedding) })),
    timing: faces.timing, zero_copy: [detector.zeroCopy, landmarks.zeroCopy, network.zeroCopy],
    isa: network.isa, memory: fn.memoryBytes,
  }) + '\n');
}
