// Reference fixtures for the Rust face engine (src/biometrics/face).
//
// Runs the MIT-licensed face-api.js 1.7.15 (tfjs, wasm backend) over the fixture photos and
// writes, per photo, what the JS pipeline finds:
//   * `faces`: detectAllFaces(TinyFaceDetector, inputSize 416, scoreThreshold 0.5)
//       .withFaceLandmarks().withFaceDescriptors() -> box, score, 68 landmarks, descriptor
//   * `crop_descriptor`: the recognition net run directly on the whole image
//       (the 150x150 crops are already face chips), a network-level check
//   * `chips`: the aligned 150x150 chips that the Rust engine cuts (tests/fixtures/faces/chips/*.png,
//       written by `cargo run --example face_eval -- --dump-chips`) run through the recognition
//       net, to check the production (similarity-aligned) path on identical input
//
// Usage (from a scratch dir holding node_modules, never from the repo):
//   cd /work/scratch/js && npm install <deps of tools/package.json>
//   NODE_PATH=$PWD/node_modules node /work/main/tools/face_reference.js /work/main/tests/fixtures/faces
const fs = require('fs');
const path = require('path');
require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const jpeg = require('jpeg-js');
const { PNG } = require('pngjs');

function decode(file) {
  const buf = fs.readFileSync(file);
  let w; let h; let data;
  if (file.endsWith('.png')) {
    const png = PNG.sync.read(buf);
    ({ width: w, height: h, data } = png);
  } else {
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true });
    ({ width: w, height: h, data } = img);
  }
  const rgb = new Int32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    rgb[i * 3] = data[i * 4];
    rgb[i * 3 + 1] = data[i * 4 + 1];
    rgb[i * 3 + 2] = data[i * 4 + 2];
  }
  return faceapi.tf.tensor3d(rgb, [h, w, 3], 'int32');
}

const round = (v) => Math.round(v * 1e4) / 1e4;

async function main() {
  const dir = process.argv[2] || path.join(__dirname, '..', 'tests', 'fixtures', 'faces');
  const modelDir = process.argv[3] || path.join(process.cwd(), 'node_modules', '@vladmandic', 'face-api', 'model');
  await faceapi.tf.setBackend('wasm');
  await faceapi.tf.ready();
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  const opts = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const files = fs.readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  const out = {
    generator: 'tools/face_reference.js',
    package: '@vladmandic/face-api@1.7.15',
    backend: faceapi.tf.getBackend(),
    detector: { net: 'tiny_face_detector', inputSize: 416, scoreThreshold: 0.5 },
    photos: {},
    chips: {},
  };
  for (const f of files) {
    const t = decode(path.join(dir, f));
    const res = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
    const faces = res.map((r) => ({
      box: [r.detection.box.x, r.detection.box.y, r.detection.box.width, r.detection.box.height].map(round),
      score: round(r.detection.score),
      landmarks: r.landmarks.positions.map((p) => [round(p.x), round(p.y)]),
      aligned_box: [r.alignedRect.box.x, r.alignedRect.box.y, r.alignedRect.box.width, r.alignedRect.box.height].map(round),
      descriptor: Array.from(r.descriptor).map((v) => round(v * 1e2) / 1e2),
    }));
    const crop = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t);
    out.photos[f] = {
      width: t.shape[1], height: t.shape[0], faces,
      crop_descriptor: Array.from(crop).map((v) => round(v * 1e2) / 1e2),
    };
    t.dispose();
    console.log(`${f}: ${faces.length} face(s)`);
  }
  const chipDir = path.join(dir, 'chips');
  if (fs.existsSync(chipDir)) {
    for (const f of fs.readdirSync(chipDir).filter((x) => x.endsWith('.png')).sort()) {
      const t = decode(path.join(chipDir, f));
      const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t);
      out.chips[f] = Array.from(d).map((v) => round(v * 1e2) / 1e2);
      t.dispose();
    }
  }
  fs.writeFileSync(path.join(dir, 'reference.json'), `${JSON.stringify(out)}\n`);
}

main().catch((e) => { console.error(e); process.exit(1); });
