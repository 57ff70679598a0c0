// node_faces.mjs: facenet.wasm's pipeline in Node on the raw RGB photos of tools/web/stb_png.py,
// one JSON line per photo as `build/fnet embed`/`landmarks` print them (boxes, landmarks,
// embedding, plus timing): the Node half of tests/test_web.py.
//   node tools/web/node_faces.mjs [--wasm build/wasm/facenet.wasm] [--weights DIR] PHOTOS_DIR
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args.splice(i, 2)[1] : d; };
const wasm = opt('--wasm', 'build/wasm/facenet.wasm');
const weights = opt('--weights', process.env.FNET_WEIGHTS || 'weights');
const dir = args[0];
const { createFacenet } = await import(pathToFileURL(join(process.cwd(), 'build/wasm/facenet.mjs')));
const fn = await createFacenet(readFileSync(wasm));
const load = (name) => fn.loadModel(readFileSync(join(weights, name)));
const detector = load('hog_frontal.fnet'), landmarks = load('landmarks68.fnet'), network = load('resnet34.fnet');
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
