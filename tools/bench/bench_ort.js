// bench_ort.js - ONNX Runtime (npm onnxruntime-node, CPU) on the ONNX export of a facenet.h
// network (tools/convert/fnet_onnx.py): ms per face, batch 1, single thread by default.
//   node tools/bench/bench_ort.js MODEL.onnx SIZE DIVISOR MEAN_R,MEAN_G,MEAN_B [ITERS] [THREADS] [OUT]
// Input: the same synthetic RGB pattern as tools/bench/bench_embed.c, normalised like the blob's
// INPUT op. Prints "ort <ms> ms/face (min <ms>)"; OUT gets the embedding, one value a line.
const path = require('path');
const fs = require('fs');
const ort = require(path.resolve(__dirname, '../../build/npm/node_modules/onnxruntime-node'));

async function main() {
    const [model, sizeS, divS, meanS, itersS, threadsS, out] = process.argv.slice(2);
    const size = parseInt(sizeS, 10), div = parseFloat(divS), mean = meanS.split(',').map(parseFloat);
    const iters = parseInt(itersS || '50', 10), threads = parseInt(threadsS || '1', 10);
    const sess = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all'
    });
    const n = size * size * 3, x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
        const v = (i * 7 + Math.floor(i / 300) * 13) % 256;  // HWC byte i
        const c = i % 3, p = Math.floor(i / 3);
        x[c * size * size + p] = (v - mean[c]) / div;          // NCHW
    }
    const feeds = { input: new ort.Tensor('float32', x, [1, 3, size, size]) };
    let res;
    for (let i = 0; i < 3; i++) res = await sess.run(feeds);
    const ts = [];
    for (let i = 0; i < iters; i++) {
        const t0 = process.hrtime.bigint();
        res = await sess.run(feeds);
        ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ts.sort((a, b) => a - b);
    console.log(`ort    ${ts[iters >> 1].toFixed(3)} ms/face (min ${ts[0].toFixed(3)})`);
    if (out) fs.writeFileSync(out, Array.from(res.embedding.data).map(v => v.toPrecision(9)).join('\n') + '\n');
}
main().catch(e => { console.error('bench_ort.js: ' + e.message); process.exit(1); });
