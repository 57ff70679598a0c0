// facenet.mjs - facenet.h in the browser and in Node: an ES module over facenet.wasm
// (examples/web/facenet_wasm.c, built by `make wasm` into build/wasm/).
//
//   import { createFacenet } from './facenet.mjs';
//   const fn = await createFacenet();                       // loads ./facenet.wasm
//   const det = fn.loadModel(await (await fetch('hog_frontal.fnet')).arrayBuffer());
//   const lm  = fn.loadModel(...landmarks68.fnet...), net = fn.loadModel(...resnet34.fnet...);
//   const faces = fn.faces(imageData, { detector: det, landmarks: lm, network: net });
//   // -> [{ box, landmarks, chip, embedding }], faces.timing = { detect, landmarks, align, embed } ms
//   fn.distance(faces[0].embedding, faces[1].embedding);
//
// Images are ImageData (RGBA) or { data, width, height, channels? } with 8-bit gray, RGB or
// RGBA bytes. Every failure of the library throws a FacenetError: an Error whose `code` is
// facenet.h's fnet_result (the same number as native) and whose message is
// fnet_result_string()'s sentence. When wasm memory cannot grow, that is FNET_ERR_OUT_OF_MEMORY
// (-2), not a trap. Objects holding wasm memory (models, images, galleries) have free().
//
// Weight blobs: loadModel copies the bytes once into 64-byte aligned wasm memory, and
// facenet.h uses them in place (zero-copy: model.zeroCopy is true); loadModelFrom(response)
// streams a fetch() body straight into that memory, without a JavaScript copy of the blob.
//
// The module is a WASI reactor without imports today; the few WASI functions a libc may
// ask for are stubbed here (no node:wasi), so the same file runs in Node 20 and browsers.

const ERR_NAMES = {
  0: 'FNET_OK', [-1]: 'FNET_ERR_INVALID_ARGUMENT', [-2]: 'FNET_ERR_OUT_OF_MEMORY', [-3]: 'FNET_ERR_IO',
  [-4]: 'FNET_ERR_BAD_MAGIC', [-5]: 'FNET_ERR_VERSION', [-6]: 'FNET_ERR_TRUNCATED',
  [-7]: 'FNET_ERR_CORRUPT', [-8]: 'FNET_ERR_WRONG_MODEL', [-9]: 'FNET_ERR_BAD_IMAGE',
  [-10]: 'FNET_ERR_IMAGE_TOO_LARGE', [-11]: 'FNET_ERR_WORKSPACE_TOO_SMALL',
  [-12]: 'FNET_ERR_UNSUPPORTED', [-13]: 'FNET_ERR_NOT_FINITE', [-14]: 'FNET_ERR_NOT_FOUND',
  [-15]: 'FNET_ERR_DUPLICATE', [-16]: 'FNET_ERR_MISMATCH', [-17]: 'FNET_ERR_TOO_LARGE',
};
export const FNET_ERR_OUT_OF_MEMORY = -2;
export const ALIGN = { 'outer-eyes-and-nose': 1, 'inner-eyes-and-bottom-lip': 2, 'dlib-chip': 3, 'dlib-chip-5': 4 };
const KINDS = { 1: 'detector', 2: 'landmarks', 3: 'network' };
const THRESHOLD = { verify: 0, identify: 1, cluster: 2 };

export class FacenetError extends Error {
  constructor(code, message, op) {
    super(op ? `${op}: ${message}` : message);
    this.name = 'FacenetError';
    this.code = code;                          // fnet_result, as native
    this.codeName = ERR_NAMES[code] || String(code);
    this.result = message;                     // fnet_result_string(code)
    this.op = op || '';
  }
}

// WASI stubs: nothing to read or write, no clock, no exit. ENOSYS (52) for anything else.
function wasiStubs() {
  const known = {
    proc_exit(code) { throw new Error(`facenet.wasm called proc_exit(${code})`); },
    fd_write() { return 52; }, fd_close() { return 52; }, fd_seek() { return 52; },
    fd_fdstat_get() { return 52; }, environ_sizes_get() { return 52; }, environ_get() { return 52; },
    clock_time_get() { return 52; }, random_get() { return 52; },
  };
  return new Proxy(known, { get: (t, k) => (k in t ? t[k] : () => 52) });
}

const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);

async function wasmBytesOrModule(src) {
  if (src instanceof WebAssembly.Module || src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return src;
  if (typeof Response !== 'undefined' && src instanceof Response) return src;
  const url = src instanceof URL ? src : new URL(String(src), import.meta.url);
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return readFile(url);
  }
  return fetch(url);
}

// (module (func (result v128) (i32x4.splat (i32.const 0)))): valid where wasm SIMD128 is.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11]);
export const simdSupported = () => WebAssembly.validate(SIMD_PROBE);

/** Instantiates facenet.wasm (default: next to this module; facenet-nosimd.wasm where the
    engine lacks SIMD128) and returns a Facenet. `wasm`: URL, path, bytes, Response or Module. */
export async function createFacenet(wasm) {
  if (wasm === undefined) wasm = new URL(simdSupported() ? './facenet.wasm' : './facenet-nosimd.wasm', import.meta.url);
  const src = await wasmBytesOrModule(wasm);
  const imports = { wasi_snapshot_preview1: wasiStubs() };
  let instance;
  if (src instanceof WebAssembly.Module) instance = await WebAssembly.instantiate(src, imports);
  else if (typeof Response !== 'undefined' && src instanceof Response) {
    if (!src.ok) throw new Error(`facenet.wasm: HTTP ${src.status}`);
    instance = (WebAssembly.instantiateStreaming && (src.headers.get('content-type') || '').startsWith('application/wasm'))
      ? (await WebAssembly.instantiateStreaming(src, imports)).instance
      : (await WebAssembly.instantiate(await src.arrayBuffer(), imports)).instance;
  } else instance = (await WebAssembly.instantiate(src, imports)).instance;
  if (instance.exports._initialize) instance.exports._initialize();
  return new Facenet(instance);
}

function now() { return performance.now(); }

export class Facenet {
  constructor(instance) {
    this.x = instance.exports;
    this.memory = instance.exports.memory;
  }

  // ---- memory helpers (views are made afresh: growing memory detaches old ones) ----
  get u8() { return new Uint8Array(this.memory.buffer); }
  get i32() { return new Int32Array(this.memory.buffer); }
  get f32() { return new Float32Array(this.memory.buffer); }
  /** Bytes of wasm memory in use by the heap (the linear memory's current size). */
  get memoryBytes() { return this.memory.buffer.byteLength; }

  check(r, op) {
    if (r !== 0) throw new FacenetError(r, this.cstr(this.x.fw_result_string(r)), op);
  }
  alloc(n, op = 'alloc') {
    const p = this.x.fw_alloc(n);
    if (!p) this.check(FNET_ERR_OUT_OF_MEMORY, `${op} (${n} bytes)`);
    return p;
  }
  free(p) { if (p) this.x.fw_free(p); }
  cstr(p) {
    if (!p) return null;
    const u8 = this.u8;
    let e = p;
    while (u8[e]) e++;
    return new TextDecoder().decode(u8.subarray(p, e));
  }
  // a NUL-terminated UTF-8 copy in wasm memory (free it)
  str(s) {
    const b = new TextEncoder().encode(String(s));
    const p = this.alloc(b.length + 1, 'string');
    this.u8.set(b, p);
    this.u8[p + b.length] = 0;
    return p;
  }
  // runs fn(ptrs...) with temporary allocations freed afterwards
  withTemp(sizes, fn) {
    const ps = [];
    try {
      for (const n of sizes) ps.push(this.alloc(n));
      return fn(...ps);
    } finally { for (const p of ps) this.free(p); }
  }

  // ---- models ----
  /** A weight blob (ArrayBuffer or typed array) -> Model. One copy into aligned wasm memory. */
  loadModel(bytes) {
    const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes)
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const blob = this.alloc(u8.length, 'load model');
    this.u8.set(u8, blob);
    return this._loadAt(blob, u8.length);
  }
  /** A fetch() Response (or URL) -> Model, streaming the body into wasm memory. */
  async loadModelFrom(res) {
    if (!(typeof Response !== 'undefined' && res instanceof Response)) res = await fetch(res);
    if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status}`);
    const len = Number(res.headers.get('content-length'));
    if (!len || !res.body) return this.loadModel(await res.arrayBuffer());
    const blob = this.alloc(len, 'load model');
    let off = 0;
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (off + value.length > len) throw new Error(`${res.url}: body longer than Content-Length`);
        this.u8.set(value, blob + off);
        off += value.length;
      }
    } catch (e) { this.free(blob); throw e; }
    return this._loadAt(blob, off); // a short body is a truncated blob: the loader says so
  }
  _loadAt(blob, size) {
    const out = this.alloc(4);
    try {
      const r = this.x.fw_model_load(blob, size, out);
      if (r !== 0) { this.free(blob); this.check(r, 'load model'); }
      const m = new Model(this, this.i32[out >> 2], blob);
      if (!m.zeroCopy) { this.free(blob); m.blob = 0; } // the loader kept its own copy
      return m;
    } finally { this.free(out); }
  }

  // ---- images ----
  /** ImageData / {data, width, height, channels} -> WasmImage in wasm memory (free() it). */
  image(img) {
    if (img instanceof WasmImage) return img;
    const w = img.width | 0, h = img.height | 0;
    const data = img.data;
    const ch = img.channels || (w > 0 && h > 0 && data ? Math.round(data.length / (w * h)) : 0);
    if (!data || w <= 0 || h <= 0 || ![1, 3, 4].includes(ch) || data.length < w * h * ch)
      this.check(-9, 'image'); // FNET_ERR_BAD_IMAGE, as native for a bad view
    const p = this.alloc(w * h * ch, 'image');
    this.u8.set(data.length === w * h * ch ? data : data.subarray(0, w * h * ch), p);
    return new WasmImage(this, p, w, h, ch);
  }
  _img(img, fn) {
    if (img instanceof WasmImage) return fn(img);
    const im = this.image(img);
    try { return fn(im); } finally { im.free(); }
  }

  // ---- the pipeline stages ----
  /** Faces as [{left, top, right, bottom, score, filter}] (dlib's inclusive rectangles). */
  detect(det, img, { upsample = 0, threshold = 0, maxFaces = 256 } = {}) {
    det._want('detector', 'detect');
    return this._img(img, (im) => this.withTemp([24 * maxFaces, 4], (boxes, np) => {
      this.check(this.x.fw_detect(det.ptr, im.ptr, im.width, im.height, im.channels, 0, upsample,
        threshold, boxes, maxFaces, np), 'detect');
      const n = Math.min(this.i32[np >> 2], maxFaces), i32 = this.i32, f32 = this.f32, out = [];
      for (let k = 0; k < n; k++) {
        const b = (boxes >> 2) + 6 * k;
        out.push({ left: i32[b], top: i32[b + 1], right: i32[b + 2], bottom: i32[b + 3], score: f32[b + 4], filter: i32[b + 5] });
      }
      return out;
    }));
  }
  /** The landmark points of one box: Float32Array [x0, y0, x1, y1, ...] (unrounded). */
  landmarks(lm, img, box) {
    lm._want('landmarks', 'landmarks');
    const n = this.x.fw_landmarks_count(lm.ptr);
    return this._img(img, (im) => this.withTemp([24, 8 * n], (bp, pts) => {
      const b = bp >> 2;
      this.i32.set([box.left, box.top, box.right, box.bottom, 0, box.filter | 0], b);
      this.f32[b + 4] = box.score || 0;
      this.check(this.x.fw_landmarks(lm.ptr, im.ptr, im.width, im.height, im.channels, 0, bp, pts), 'landmarks');
      return this.f32.slice(pts >> 2, (pts >> 2) + 2 * n);
    }));
  }
  /** The aligned RGB crop (size x size x 3 bytes) from landmark points. */
  align(img, points, { kind = 'dlib-chip', size = 150 } = {}) {
    const k = typeof kind === 'number' ? kind : ALIGN[kind];
    if (!k) this.check(-1, `align: kind ${kind}`);
    const n = points.length >> 1;
    return this._img(img, (im) => this.withTemp([8 * Math.max(n, 1), size * size * 3], (pts, out) => {
      this.f32.set(points, pts >> 2);
      this.check(this.x.fw_align(im.ptr, im.width, im.height, im.channels, 0, pts, n, k, size, out), 'align');
      return this.u8.slice(out, out + size * size * 3);
    }));
  }
  /** The embedding (Float32Array) of an aligned RGB crop of net.inputSize pixels square. */
  embed(net, rgb) {
    net._want('network', 'embed');
    const s = net.inputSize, dim = net.dim;
    if (!rgb || rgb.length !== s * s * 3) this.check(-1, `embed: the crop must be ${s}x${s} RGB (${s * s * 3} bytes)`);
    const work = net._workspace();
    return this.withTemp([s * s * 3, 4 * dim], (px, out) => {
      this.u8.set(rgb, px);
      this.check(this.x.fw_embed(net.ptr, px, work, net.workSize, out), 'embed');
      return this.f32.slice(out >> 2, (out >> 2) + dim);
    });
  }
  /** ||a - b|| (plain L2, as facenet.h's verify / identify). */
  distance(a, b) {
    if (a.length !== b.length) this.check(-16, 'distance');
    return this.withTemp([4 * a.length, 4 * b.length], (pa, pb) => {
      this.f32.set(a, pa >> 2);
      this.f32.set(b, pb >> 2);
      return this.x.fw_distance(pa, pb, a.length);
    });
  }
  /** Threshold on plain L2 for a network id ('verify', 'identify' or 'cluster'). */
  threshold(network, kind = 'verify') {
    const p = this.str(network);
    try { return this.x.fw_network_threshold(p, THRESHOLD[kind] ?? 0); } finally { this.free(p); }
  }

  /** The whole pipeline on one image: [{box, landmarks, chip, embedding}] with .timing (ms).
      Without a network: boxes and landmarks; without landmarks: boxes only. */
  faces(img, { detector, landmarks: lm, network: net, upsample = 0, threshold = 0, align = null } = {}) {
    const timing = { copy: 0, detect: 0, landmarks: 0, align: 0, embed: 0 };
    let t = now();
    const im = this.image(img);
    timing.copy = now() - t;
    try {
      t = now();
      const boxes = this.detect(detector, im, { upsample, threshold });
      timing.detect = now() - t;
      const out = boxes.map((box) => ({ box }));
      for (const f of out) {
        if (!lm) break;
        t = now();
        f.landmarks = this.landmarks(lm, im, f.box);
        timing.landmarks += now() - t;
        if (!net) continue;
        const size = net.inputSize;
        t = now();
        f.chip = this.align(im, f.landmarks, { kind: align || (size === 150 ? 'dlib-chip' : 'outer-eyes-and-nose'), size });
        timing.align += now() - t;
        t = now();
        f.embedding = this.embed(net, f.chip);
        timing.embed += now() - t;
      }
      out.timing = timing;
      return out;
    } finally { im.free(); }
  }

  // ---- galleries ----
  /** An empty gallery for embeddings of `network` (a network Model or an id string). */
  gallery(network, dim = 128) {
    const id = network instanceof Model ? network.networkId : String(network);
    if (network instanceof Model) dim = network.dim;
    const s = this.str(id);
    try {
      return this.withTemp([4], (out) => {
        this.check(this.x.fw_gallery_create(s, dim, out), 'gallery');
        return new Gallery(this, this.i32[out >> 2]);
      });
    } finally { this.free(s); }
  }
  /** A gallery from Gallery.save()'s bytes (facenet.h's gallery file format). */
  loadGallery(bytes) {
    const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.withTemp([u8.length, 4], (p, out) => {
      this.u8.set(u8, p);
      this.check(this.x.fw_gallery_load(p, u8.length, out), 'load gallery');
      return new Gallery(this, this.i32[out >> 2]);
    });
  }
}

export class Model {
  constructor(fn, ptr, blob) {
    this.fn = fn; this.ptr = ptr; this.blob = blob; this.work = 0; this.workSize = 0;
    const x = fn.x;
    this.kind = KINDS[x.fw_model_kind(ptr)];
    this.zeroCopy = !!x.fw_model_zero_copy(ptr);
    this.isa = fn.cstr(x.fw_isa_name(x.fw_model_isa(ptr)));
    if (this.kind === 'network') {
      this.inputSize = x.fw_embed_input_size(ptr);
      this.dim = x.fw_embed_dim(ptr);
      this.networkId = fn.cstr(x.fw_network_id(ptr));
    }
    if (this.kind === 'landmarks') this.points = x.fw_landmarks_count(ptr);
  }
  meta(key) { const p = this.fn.str(key); try { return this.fn.cstr(this.fn.x.fw_model_meta(this.ptr, p)); } finally { this.fn.free(p); } }
  _want(kind, op) {
    if (!this.ptr) this.fn.check(-1, `${op}: the model was freed`);
    if (this.kind !== kind) this.fn.check(-8, op); // FNET_ERR_WRONG_MODEL, as native
  }
  _workspace() {
    if (!this.work) {
      const n = this.fn.x.fw_embed_workspace_size(this.ptr);
      this.work = this.fn.alloc(n, 'embed workspace');
      this.workSize = n;
    }
    return this.work;
  }
  free() {
    if (!this.ptr) return;
    this.fn.x.fw_model_free(this.ptr);
    this.fn.free(this.blob); this.fn.free(this.work);
    this.ptr = this.blob = this.work = 0;
  }
}

export class WasmImage {
  constructor(fn, ptr, width, height, channels) { Object.assign(this, { fn, ptr, width, height, channels }); }
  free() { if (this.ptr) this.fn.free(this.ptr); this.ptr = 0; }
}

export class Gallery {
  constructor(fn, ptr) { this.fn = fn; this.ptr = ptr; }
  get count() { return this.fn.x.fw_gallery_count(this.ptr); }
  get dim() { return this.fn.x.fw_gallery_dim(this.ptr); }
  get network() { return this.fn.cstr(this.fn.x.fw_gallery_network(this.ptr)); }
  /** Names and embedding counts: [{name, n}]. */
  get people() {
    const fn = this.fn;
    return fn.withTemp([4, 4], (pn, pc) => {
      const out = [];
      for (let i = 0; i < this.count; i++) {
        fn.check(fn.x.fw_gallery_person(this.ptr, i, pn, pc), 'gallery person');
        out.push({ name: fn.cstr(fn.i32[pn >> 2]), n: fn.i32[pc >> 2] });
      }
      return out;
    });
  }
  /** Adds one or more embeddings (Float32Array or an array of them) to `name`. */
  add(name, embeddings) {
    const list = Array.isArray(embeddings) ? embeddings : [embeddings];
    const dim = this.dim, fn = this.fn, s = fn.str(name);
    try {
      fn.withTemp([4 * dim * list.length], (p) => {
        list.forEach((e, i) => {
          if (e.length !== dim) fn.check(-16, 'gallery add');
          fn.f32.set(e, (p >> 2) + i * dim);
        });
        fn.check(fn.x.fw_gallery_add(this.ptr, s, p, list.length), 'gallery add');
      });
    } finally { fn.free(s); }
  }
  remove(name) {
    const s = this.fn.str(name);
    try { this.fn.check(this.fn.x.fw_gallery_remove(this.ptr, s), 'gallery remove'); } finally { this.fn.free(s); }
  }
  /** The k nearest people: [{name, distance, accepted}]; threshold <= 0: the network's
      identification threshold. Empty gallery: []. */
  identify(probe, { k = 1, threshold = 0 } = {}) {
    const fn = this.fn;
    if (this.count === 0) return [];
    if (probe.length !== this.dim) fn.check(-16, 'identify');
    return fn.withTemp([4 * probe.length, 16 * k, 4, 4, 4], (pp, pm, pn, pname, pc) => {
      fn.f32.set(probe, pp >> 2);
      fn.check(fn.x.fw_identify(this.ptr, pp, probe.length, threshold, pm, k, pn), 'identify');
      const out = [];
      for (let i = 0; i < fn.i32[pn >> 2]; i++) {
        const b = (pm >> 2) + 4 * i; /* fnet_match: person, distance, accepted, score */
        const person = fn.i32[b];
        fn.check(fn.x.fw_gallery_person(this.ptr, person, pname, pc), 'identify');
        out.push({ name: fn.cstr(fn.i32[pname >> 2]), distance: fn.f32[b + 1], accepted: !!fn.i32[b + 2] });
      }
      return out;
    });
  }
  /** facenet.h's gallery file bytes (Uint8Array), e.g. for IndexedDB or a download. */
  save() {
    const fn = this.fn;
    return fn.withTemp([4], (ps) => {
      const r = fn.x.fw_gallery_save(this.ptr, 0, 0, ps);
      if (r !== 0 && r !== -11) fn.check(r, 'gallery save');
      const n = fn.i32[ps >> 2];
      return fn.withTemp([n], (buf) => {
        fn.check(fn.x.fw_gallery_save(this.ptr, buf, n, ps), 'gallery save');
        return fn.u8.slice(buf, buf + n);
      });
    });
  }
  free() { if (this.ptr) this.fn.x.fw_gallery_free(this.ptr); this.ptr = 0; }
}
