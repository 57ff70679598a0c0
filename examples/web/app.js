// app.js - the facenet.h web demo (served by `make web`, see serve.mjs).
// Photos are decoded by the browser, handed to facenet.wasm as RGBA ImageData, and the whole
// pipeline runs in this page: detect (HOG), 68 landmarks, dlib chip, ResNet-34 embedding,
// then every face is identified against the in-page gallery (saved in IndexedDB).
// window.facenetDemo exposes the same steps to tests/test_web.py (headless Chromium).
import { createFacenet, simdSupported } from '/wasm/facenet.mjs';

const $ = (id) => document.getElementById(id);
const status = (s) => { $('status').textContent = s; };
const BLOBS = { detector: 'hog_frontal.fnet', landmarks: 'landmarks68.fnet', network: 'resnet34.fnet' };
const COLORS = ['#e63946', '#2a9d8f', '#f4a261', '#457b9d', '#8338ec', '#ff006e'];

let fn, models, gallery;
let current = null; // { name, imageData, faces, timing }

// ---- IndexedDB: one record, the gallery's bytes (facenet.h's gallery format) ----
function db() {
  return new Promise((ok, fail) => {
    const r = indexedDB.open('facenet-demo', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('kv');
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}
async function dbGet(key) {
  const d = await db();
  return new Promise((ok, fail) => {
    const q = d.transaction('kv').objectStore('kv').get(key);
    q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error);
  });
}
async function dbPut(key, value) {
  const d = await db();
  return new Promise((ok, fail) => {
    const t = d.transaction('kv', 'readwrite');
    t.objectStore('kv').put(value, key);
    t.oncomplete = () => ok(); t.onerror = () => fail(t.error);
  });
}
async function saveGallery() { await dbPut('gallery', gallery.save()); renderGallery(); }

// ---- start: the module, the three blobs (streamed into wasm memory), the gallery ----
async function start() {
  const t0 = performance.now();
  status('loading facenet.wasm…');
  fn = await createFacenet();
  models = {};
  for (const [k, file] of Object.entries(BLOBS)) {
    status(`loading weights/${file}…`);
    models[k] = await fn.loadModelFrom(`/weights/${file}`);
  }
  const saved = await dbGet('gallery').catch(() => null);
  gallery = null;
  if (saved) {
    try { gallery = fn.loadGallery(saved); } catch (e) { console.warn('stored gallery refused:', e.message); }
    if (gallery && gallery.network !== models.network.networkId) { gallery.free(); gallery = null; }
  }
  if (!gallery) gallery = fn.gallery(models.network);
  renderGallery();
  const ms = performance.now() - t0;
  status(`ready in ${ms.toFixed(0)} ms · ${simdSupported() ? 'wasm SIMD128' : 'wasm (no SIMD)'} · kernels ${models.network.isa} · ` +
    `blobs zero-copy: ${Object.values(models).every((m) => m.zeroCopy)} · wasm memory ${(fn.memoryBytes / 1048576).toFixed(0)} MB`);
  const list = await fetch('/samples/index.json').then((r) => r.json()).catch(() => []);
  for (const s of list) $('samples').add(new Option(s, s));
}

// ---- images ----
async function decode(blob) {
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(bmp, 0, 0);
  bmp.close();
  return g.getImageData(0, 0, c.width, c.height, { colorSpace: 'srgb' });
}

// The whole pipeline on one photo, then identification; returns what the page shows.
function analyse(name, imageData) {
  const t0 = performance.now();
  const faces = fn.faces(imageData, models);
  const timing = { ...faces.timing };
  let t = performance.now();
  for (const f of faces) {
    const m = gallery.identify(f.embedding, { k: 1 });
    f.match = m.length ? m[0] : null;
  }
  timing.identify = performance.now() - t;
  timing.total = performance.now() - t0;
  return { name, imageData, faces, timing };
}

function draw() {
  const c = $('canvas'), g = c.getContext('2d');
  if (!current) return;
  const { imageData, faces } = current;
  c.width = imageData.width; c.height = imageData.height;
  g.putImageData(imageData, 0, 0);
  const lw = Math.max(2, imageData.width / 400);
  faces.forEach((f, i) => {
    const col = COLORS[i % COLORS.length], b = f.box;
    g.strokeStyle = col; g.fillStyle = col; g.lineWidth = lw;
    g.strokeRect(b.left, b.top, b.right - b.left + 1, b.bottom - b.top + 1);
    const r = Math.max(2, imageData.width / 320); // dots visible on a scaled-down photo
    for (let k = 0; k < f.landmarks.length; k += 2) {
      g.beginPath(); g.arc(f.landmarks[k], f.landmarks[k + 1], r, 0, 2 * Math.PI); g.fill();
    }
    const label = `${i + 1}. ${f.match && f.match.accepted ? f.match.name : 'unknown'}` +
      (f.match ? ` ${f.match.distance.toFixed(3)}` : '');
    g.font = `${Math.round(lw * 8)}px system-ui, sans-serif`;
    const w = g.measureText(label).width + lw * 2, h = lw * 10;
    g.fillRect(b.left - lw / 2, b.top - h, w, h);
    g.fillStyle = '#fff'; g.fillText(label, b.left + lw, b.top - lw * 2);
  });
  const t = current.timing;
  $('timing').textContent = `${current.name}: ${faces.length} face(s), ${imageData.width}x${imageData.height} · ` +
    ['copy', 'detect', 'landmarks', 'align', 'embed', 'identify', 'total'].map((k) => `${k} ${t[k].toFixed(1)} ms`).join(' · ');
}

function renderFaces() {
  const ol = $('faces');
  ol.textContent = '';
  if (!current) return;
  current.faces.forEach((f, i) => {
    const li = document.createElement('li');
    const chip = document.createElement('canvas');
    chip.width = chip.height = models.network.inputSize;
    const rgba = new Uint8ClampedArray(chip.width * chip.height * 4);
    for (let p = 0, q = 0; p < f.chip.length; p += 3, q += 4) {
      rgba[q] = f.chip[p]; rgba[q + 1] = f.chip[p + 1]; rgba[q + 2] = f.chip[p + 2]; rgba[q + 3] = 255;
    }
    chip.getContext('2d').putImageData(new ImageData(rgba, chip.width, chip.height), 0, 0);
    li.append(chip);
    const who = document.createElement('span');
    if (f.match && f.match.accepted) { who.className = 'name'; who.textContent = f.match.name; }
    else { who.className = 'unknown'; who.textContent = 'unknown'; }
    li.append(who, document.createTextNode(f.match ? ` (distance ${f.match.distance.toFixed(3)}${f.match.accepted ? '' : ' to ' + f.match.name}) ` : ' '));
    const input = document.createElement('input');
    input.placeholder = 'name'; input.value = f.match && f.match.accepted ? f.match.name : '';
    const btn = document.createElement('button');
    btn.textContent = 'enrol';
    btn.onclick = () => enrol(i, input.value.trim()).catch(showError);
    li.append(document.createElement('br'), input, btn);
    ol.append(li);
  });
}

function renderGallery() {
  const ul = $('gallery');
  ul.textContent = '';
  for (const p of gallery.people) {
    const li = document.createElement('li');
    li.textContent = `${p.name} (${p.n} photo${p.n > 1 ? 's' : ''})`;
    const b = document.createElement('button');
    b.textContent = '×'; b.title = `forget ${p.name}`;
    b.onclick = async () => { gallery.remove(p.name); await saveGallery(); reidentify(); };
    li.append(b);
    ul.append(li);
  }
  if (!gallery.count) ul.innerHTML = '<li class="unknown">nobody yet: name a face and press enrol</li>';
}

function reidentify() {
  if (!current) return;
  for (const f of current.faces) { const m = gallery.identify(f.embedding, { k: 1 }); f.match = m.length ? m[0] : null; }
  draw(); renderFaces();
}

async function enrol(i, name) {
  if (!name) throw new Error('type a name first');
  gallery.add(name, current.faces[i].embedding);
  await saveGallery();
  reidentify();
}

async function show(name, blob) {
  status(`analysing ${name}…`);
  const imageData = await decode(blob);
  current = analyse(name, imageData);
  draw(); renderFaces();
  status(`${name}: ${current.faces.length} face(s) in ${current.timing.total.toFixed(0)} ms · wasm memory ${(fn.memoryBytes / 1048576).toFixed(0)} MB`);
  return current;
}

function addPhotos(files) {
  const div = $('photos');
  for (const file of files) {
    const img = document.createElement('img');
    img.src = URL.createObjectURL(file); img.title = file.name;
    img.onclick = () => {
      for (const o of div.children) o.classList.toggle('current', o === img);
      show(file.name, file).catch(showError);
    };
    div.append(img);
  }
  if (files.length) div.lastChild.click();
}

function showError(e) { console.error(e); status(`error: ${e.message}${e.codeName ? ` (${e.codeName})` : ''}`); }

// ---- wiring ----
const drop = $('drop');
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); addPhotos([...e.dataTransfer.files].filter((f) => f.type.startsWith('image/'))); };
$('files').onchange = (e) => addPhotos([...e.target.files]);
$('load-sample').onclick = async () => {
  const s = $('samples').value;
  if (!s) return;
  const blob = await fetch(`/samples/${s}`).then((r) => r.blob());
  addPhotos([new File([blob], s.split('/').pop(), { type: blob.type })]);
};
$('clear-gallery').onclick = async () => {
  for (const p of gallery.people) gallery.remove(p.name);
  await saveGallery(); reidentify();
};

const ready = start();
ready.catch(showError);

// For tests/test_web.py: the page's own steps, results as plain JSON.
window.facenetDemo = {
  ready,
  async analyseUrl(url) {
    const blob = await fetch(url).then((r) => { if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); return r.blob(); });
    const c = await show(url.split('/').pop(), blob);
    return {
      width: c.imageData.width, height: c.imageData.height, timing: c.timing,
      faces: c.faces.map((f) => ({ ...f.box, landmarks: Array.from(f.landmarks), embedding: Array.from(f.embedding),
        match: f.match })),
    };
  },
  enrol: (i, name) => enrol(i, name),
  people: () => gallery.people,
  clear: async () => { for (const p of gallery.people) gallery.remove(p.name); await saveGallery(); },
  memory: () => fn.memoryBytes,
  models: () => Object.fromEntries(Object.entries(models).map(([k, m]) => [k, { zeroCopy: m.zeroCopy, isa: m.isa }])),
  // facenet.mjs's error for a blob that is not one: {code, codeName, message}
  badBlob() {
    try { fn.loadModel(new Uint8Array(100)); return null; } catch (e) { return { code: e.code, codeName: e.codeName, message: e.message, isError: e instanceof Error }; }
  },
};
