// browser_faces.mjs: the web demo (examples/web/) in headless Chromium, driven over the
// DevTools protocol: each photo of PHOTOS_DIR/photos.json (tools/web/stb_png.py) goes through
// the page's own path (fetch, browser PNG decode, ImageData, facenet.wasm), then the first
// face of the photo ENROL (PHOTO:NAME) is enrolled as NAME and the photos are analysed again, so
// that every face is named or unknown from the in-page gallery (IndexedDB). Writes
// OUT.json {chromium, photos: [{image, width, height, faces, timing}], enrolled, again,
// bad_blob, samples, after_reload (the gallery after reloading the page), memory} and OUT.png (a screenshot of the page on the last photo; with PHOTO:NAME also OUT_named.png,
// the second photo after a reload of the page, its face named from the stored gallery).
//   node --experimental-websocket tools/web/browser_faces.mjs PHOTOS_DIR OUT.json OUT.png [PHOTO:NAME]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, serve } from './cdp.mjs';

const [dir, out, png, enrol] = process.argv.slice(2);
const [enrolPhoto, enrolName] = (enrol || '').split(':');
const photos = JSON.parse(readFileSync(join(dir, 'photos.json'), 'utf8'));
const srv = await serve();
const b = await launch({ chromium: process.env.CHROMIUM || '/usr/bin/chromium' });
try {
  await b.goto(srv.url);
  await b.eval('facenetDemo.ready.then(() => facenetDemo.clear())');
  const res = { chromium: b.version, photos: [], again: [] };
  for (const p of photos) {
    const r = await b.eval(`facenetDemo.analyseUrl('/photos/${p.png}')`);
    res.photos.push({ image: p.name, ...r });
  }
  if (enrolPhoto) {
    await b.eval(`facenetDemo.analyseUrl('/photos/${enrolPhoto}.png').then(() => facenetDemo.enrol(0, ${JSON.stringify(enrolName || enrolPhoto)}))`);
    res.enrolled = await b.eval('facenetDemo.people()');
    for (const p of photos) {
      const r = await b.eval(`facenetDemo.analyseUrl('/photos/${p.png}')`);
      res.again.push({ image: p.name, matches: r.faces.map((f) => f.match) });
    }
  }
  res.bad_blob = await b.eval('facenetDemo.badBlob()');
  res.samples = await b.eval("[...document.getElementById('samples').options].map((o) => o.value).filter(Boolean)");
  if (enrolPhoto) { // the gallery outlives the page: IndexedDB
    const shot = await b.eval("document.getElementById('status').textContent");
    await b.goto(srv.url);
    res.after_reload = await b.eval('facenetDemo.ready.then(() => facenetDemo.people())');
    res.status_before_reload = shot;
    // after the reload, the second photo: its face named from the stored gallery
    await b.eval(`facenetDemo.analyseUrl('/photos/${photos[Math.min(1, photos.length - 1)].png}')`);
    await b.screenshot(png.replace(/\.png$/, '_named.png'));
    await b.eval(`facenetDemo.analyseUrl('/photos/${photos[photos.length - 1].png}')`);
  }
  res.memory = await b.eval('facenetDemo.memory()');
  res.models = await b.eval('facenetDemo.models()');
  res.status = await b.eval("document.getElementById('status').textContent");
  await b.screenshot(png);
  res.console = b.console;
  writeFileSync(out, JSON.stringify(res));
} finally {
  await b.close();
  srv.stop();
}
