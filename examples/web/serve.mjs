// serve.mjs - the web demo's static server on localhost (no network beyond 127.0.0.1).
//
//   node examples/web/serve.mjs [--port 8016] [--weights weights] [--shared ../shared]
//
//   /                   examples/web/ (index.html, app.js, style.css)
//   /wasm/              build/wasm/ (facenet.wasm, facenet-nosimd.wasm, facenet.mjs)
//   /weights/NAME.fnet  the weight blobs
//   /samples/           the shared sample photos (SHARED/data/*-examples, faceapi-samples);
//                       /samples/index.json lists them
//   /photos/            build/web/photos (tests/test_web.py's decoded PNGs), when present
//   /faceapi/, /node_modules/   face-api's package and build/node's tfjs wasm binaries
//                       (tools/bench/bench_wasm.mjs in the browser), when present
//   /bench/             tools/bench (the browser half of that benchmark)
//
// --port 0 picks a free port. The first line on stdout is the URL (scripts read it).
import { createServer } from 'node:http';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 && i + 1 < args.length ? args[i + 1] : d; };
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const port = Number(opt('--port', process.env.WEB_PORT || 8016));
const shared = resolve(root, opt('--shared', process.env.FNET_SHARED || '../shared'));
const weights = resolve(root, opt('--weights', process.env.FNET_WEIGHTS || 'weights'));
const SAMPLE_DIRS = ['openface-examples', 'faceapi-samples', 'dlib-examples', 'face_recognition-examples'];

const mounts = [
  ['/wasm/', join(root, 'build', 'wasm')],
  ['/weights/', weights],
  ['/samples/', join(shared, 'data')],
  ['/photos/', join(root, 'build', 'web', 'photos')],
  ['/faceapi/', join(root, 'weights', 'cache', 'face-api', 'package')],
  ['/node_modules/', join(root, 'build', 'node', 'node_modules')],
  ['/bench/', join(root, 'tools', 'bench')],
  ['/', here],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.fnet': 'application/octet-stream',
  '.bin': 'application/octet-stream', '.rgb': 'application/octet-stream',
};

function samples() {
  const out = [];
  for (const d of SAMPLE_DIRS) {
    let names = [];
    try { names = readdirSync(join(shared, 'data', d)); } catch { continue; }
    for (const n of names.sort()) if (/\.(jpe?g|png)$/i.test(n)) out.push(`${d}/${n}`);
  }
  return out;
}

function send(res, code, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const server = createServer((req, res) => {
  let path;
  try { path = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { return send(res, 400, 'bad url\n'); }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'GET only\n');
  if (path === '/samples/index.json') return send(res, 200, JSON.stringify(samples()), TYPES['.json']);
  if (path === '/') path = '/index.html';
  const m = mounts.find(([p]) => path.startsWith(p));
  const base = m[1];
  const file = normalize(join(base, path.slice(m[0].length)));
  if (file !== base && !file.startsWith(base + sep)) return send(res, 403, 'outside the served folders\n');
  if (m[0] === '/weights/' && extname(file) !== '.fnet') return send(res, 403, 'weights: .fnet files only\n');
  let st;
  try { st = statSync(file); } catch { st = null; }
  if (!st || !st.isFile()) return send(res, 404, `not found: ${path}\n`);
  res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] || 'application/octet-stream',
    'content-length': st.size, 'cache-control': 'no-cache' });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}/\n`);
  if (!existsSync(join(root, 'build', 'wasm', 'facenet.mjs'))) process.stderr.write('serve: build/wasm is empty: run make wasm\n');
  if (!existsSync(join(weights, 'resnet34.fnet'))) process.stderr.write(`serve: no blobs in ${weights}: run make weights\n`);
});
