// wasm_bench_core.mjs - facenet.wasm against face-api (@vladmandic/face-api 1.7.15 on tfjs
// 4.22's wasm backend, SIMD, one thread), the same code in Node and in a browser page
// (tools/bench/bench_wasm.mjs runs both). Single thread on both sides.
//   descriptor: ms per face of the ResNet-34 descriptor on the same 150x150 chips (the dlib
//               chips facenet.h cuts from the photos), interleaved rounds, best round each;
//   pipeline:   ms per photo of the whole pipeline on the same RGB pixels: ours is HOG detect
//               (upsample 0) + 68 landmarks + dlib chip + ResNet-34; face-api's is
//               detectAllFaces (SSD MobileNet v1) .withFaceLandmarks() (68-point net)
//               .withFaceDescriptors() (the same ResNet-34);
//   memory:     each side's wasm linear memory at the end (its peak: it never shrinks).
// env: { fn (a Facenet), faceapi, tf, blob(name) -> Uint8Array (weights), photos:
//        [{name, width, height, rgb}], rounds, iters, log(line) }
const now = () => performance.now();

export async function bench(env) {
  const { fn, faceapi, tf, photos, log } = env;
  const rounds = env.rounds || 3, iters = env.iters || 5;
  const det = fn.loadModel(env.blob('hog_frontal.fnet'));
  const lm = fn.loadModel(env.blob('landmarks68.fnet'));
  const net = fn.loadModel(env.blob('resnet34.fnet'));
  const models = { detector: det, landmarks: lm, network: net };
  const out = { tfjs: tf.version_core, backend: tf.getBackend(), isa: net.isa, rounds, iters };

  // the chips: facenet.h's dlib chips of every face of the photos
  const chips = [];
  for (const p of photos)
    for (const f of fn.faces({ data: p.rgb, width: p.width, height: p.height, channels: 3 }, models)) chips.push(f.chip);
  out.chips = chips.length;

  // descriptor: the same chips through both, interleaved rounds
  const chipTensors = chips.map((c) => tf.tensor3d(Int32Array.from(c), [150, 150, 3], 'int32'));
  const frn = faceapi.nets.faceRecognitionNet;
  for (let i = 0; i < 2; i++) { fn.embed(net, chips[i % chips.length]); await frn.computeFaceDescriptor(chipTensors[i % chips.length]); }
  let maxDiff = 0;
  for (let i = 0; i < Math.min(3, chips.length); i++) {
    const a = fn.embed(net, chips[i]), b = await frn.computeFaceDescriptor(chipTensors[i]);
    for (let k = 0; k < 128; k++) maxDiff = Math.max(maxDiff, Math.abs(a[k] - b[k]));
  }
  out.descriptor_max_abs_diff = maxDiff; // face-api divides the pixels by 255, dlib by 256
  const best = { ours: Infinity, faceapi: Infinity };
  for (let r = 0; r < rounds; r++) {
    let t = now();
    for (let i = 0; i < iters; i++) fn.embed(net, chips[i % chips.length]);
    best.ours = Math.min(best.ours, (now() - t) / iters);
    t = now();
    for (let i = 0; i < iters; i++) await frn.computeFaceDescriptor(chipTensors[i % chips.length]);
    best.faceapi = Math.min(best.faceapi, (now() - t) / iters);
    log(`  descriptor round ${r + 1}: facenet.wasm ${best.ours.toFixed(1)} ms, face-api ${best.faceapi.toFixed(1)} ms (best so far)`);
  }
  chipTensors.forEach((t) => t.dispose());
  out.descriptor = { ours_ms: best.ours, faceapi_ms: best.faceapi, ratio: best.faceapi / best.ours };

  // whole pipeline per photo
  const opts = new faceapi.SsdMobilenetv1Options();
  const imgs = photos.map((p) => tf.tensor3d(Int32Array.from(p.rgb), [p.height, p.width, 3], 'int32'));
  const faceapiRun = async (i) => faceapi.detectAllFaces(imgs[i], opts).withFaceLandmarks().withFaceDescriptors();
  await faceapiRun(0); // warm-up (shader / kernel set-up)
  const pb = { ours: Infinity, faceapi: Infinity };
  const faces = { ours: 0, faceapi: 0 };
  const stages = { detect: 0, landmarks: 0, align: 0, embed: 0 };
  for (let r = 0; r < rounds; r++) {
    let t = now(), n = 0;
    for (const p of photos) {
      const f = fn.faces({ data: p.rgb, width: p.width, height: p.height, channels: 3 }, models);
      n += f.length;
      if (r === 0) for (const k in stages) stages[k] += f.timing[k];
    }
    pb.ours = Math.min(pb.ours, (now() - t) / photos.length);
    faces.ours = n;
    t = now(); n = 0;
    for (let i = 0; i < photos.length; i++) n += (await faceapiRun(i)).length;
    pb.faceapi = Math.min(pb.faceapi, (now() - t) / photos.length);
    faces.faceapi = n;
    log(`  pipeline round ${r + 1}: facenet.wasm ${pb.ours.toFixed(0)} ms/photo, face-api ${pb.faceapi.toFixed(0)} ms/photo (best so far)`);
  }
  imgs.forEach((t) => t.dispose());
  for (const k in stages) stages[k] /= photos.length;
  out.pipeline = { photos: photos.length, ours_ms: pb.ours, faceapi_ms: pb.faceapi, ratio: pb.faceapi / pb.ours,
    faces_ours: faces.ours, faces_faceapi: faces.faceapi, ours_stages_ms: stages };
  const be = tf.backend();
  const tfMem = be && be.wasm && (be.wasm.HEAPU8 || be.wasm.HEAP8);
  out.memory = { ours_bytes: fn.memoryBytes, faceapi_wasm_bytes: tfMem ? tfMem.buffer.byteLength : null,
    faceapi_tensor_bytes: tf.memory().numBytes };
  det.free(); lm.free(); net.free();
  return out;
}
