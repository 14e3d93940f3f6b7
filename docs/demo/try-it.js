// The "Try it" page: denoise a picture in the browser with an exported (ONNX) model.
//
// The page reads the picture, adds the noise, draws and scores; the model runs in a Web
// Worker (try-it-worker.js), so that the tab stays responsive while it works: it pads the
// picture as denoise.py does, runs the model and cuts the padding off. The models, the
// runtime and the samples are made by `python -m tools.try_it` (models/models.json lists
// them). window.tryIt exposes the page's state to the tests (tests/test_try_it.py).

// Larger pictures are refused: the model's time grows with the pixels (tens of seconds for
// a million colour ones), and so does the memory the page and the runtime take.
const MAX_PIXELS = 1_000_000;
const MIN_SIDE = 16; // smaller ones too, as denoise.py refuses them (data.MIN_SIDE)
const NOISE_SEED = 20240;

const element = (id) => document.getElementById(id);
const state = {
  picture: null, // {width, height, channels, pixels: Float32Array, HxWxC in [0, 1]}
  clean: null, // the picture, when noise was added to it (else unknown)
  noisy: null, // what the model is given (unclipped, as the photo models were trained)
  denoised: null,
  runs: 0, // finished denoisings, for the tests
  message: "",
  ready: false,
};
window.tryIt = state;

function say(text) {
  state.message = text;
  element("try-status").textContent = text;
}

// ## Pictures in: any file the browser can decode, as floats in [0, 1]

function pictureSize(blob) {
  // The width and height of a picture, from its header: an <img> knows them once the file
  // has loaded, and decodes the pixels only when it is drawn, which this one never is. So a
  // picture too large is refused before it takes the memory and the time of its pixels (a
  // small file can hold a huge picture: a PNG of one colour, 20000x20000, is 50 kB).
  return new Promise((resolve, reject) => {
    const image = new Image();
    const url = URL.createObjectURL(blob);
    image.onload = () => {
      URL.revokeObjectURL(url);
      resolve({ width: image.naturalWidth, height: image.naturalHeight });
    };
    image.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("cannot be opened: not a picture this browser reads (PNG, JPEG, WebP), " +
        "or a damaged one"));
    };
    image.src = url;
  });
}

async function readPicture(blob) {
  const { width, height } = await pictureSize(blob);
  if (width * height > MAX_PIXELS) {
    throw new Error(`${width}x${height} pixels is too large for this page (at most ` +
      `${MAX_PIXELS.toLocaleString("en")} pixels): crop it first, or use denoise.py, which tiles`);
  }
  if (Math.min(width, height) < MIN_SIDE) {
    throw new Error(`${width}x${height} pixels is too small (at least ${MIN_SIDE}x${MIN_SIDE})`);
  }
  // The pixels as they are in the file: no colour profile applied, no alpha multiplied in
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none", premultiplyAlpha: "none",
  });
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  for (let i = 3; i < rgba.length; i += 4) {
    if (rgba[i] < 255) {
      throw new Error("has transparent pixels: this page takes opaque pictures " +
        "(denoise.py keeps the transparency)");
    }
  }
  let grey = true;
  for (let i = 0; i < rgba.length && grey; i += 4) {
    grey = rgba[i] === rgba[i + 1] && rgba[i] === rgba[i + 2];
  }
  const channels = grey ? 1 : 3;
  const pixels = new Float32Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < channels; c++) pixels[p * channels + c] = rgba[p * 4 + c] / 255;
  }
  return { width, height, channels, pixels };
}

// ## Noise: Gaussian, of standard deviation sigma/255, from a seeded generator

function seededUniform(seed) {
  // mulberry32: a small generator, so that the same sigma gives the same noise every time
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function addNoise(picture, sigma) {
  const uniform = seededUniform(NOISE_SEED);
  const noisy = new Float32Array(picture.pixels.length);
  for (let i = 0; i < noisy.length; i++) {
    // Box-Muller: two uniform draws in [0, 1) make one draw of the bell curve N(0, 1)
    const normal = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    noisy[i] = picture.pixels[i] + (sigma / 255) * normal; // not clipped, as in training
  }
  return { ...picture, pixels: noisy };
}

// The noise level of a picture, the idea of denoise.py's `auto`: in the finest details, a
// photo has little but noise has as much as anywhere; their median absolute value / 0.6745
// is the noise's standard deviation (Donoho's rule), averaged over the channels. Here the
// finest details are those of the simplest wavelet (Haar: the diagonal difference of each
// 2x2 block), where scikit-image uses another, so the two can differ a little; fine texture
// adds a little to both.
function estimateSigma(picture) {
  const { width, height, channels, pixels } = picture;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    const details = [];
    for (let y = 0; y + 1 < height; y += 2) {
      for (let x = 0; x + 1 < width; x += 2) {
        const at = (dy, dx) => pixels[((y + dy) * width + x + dx) * channels + c];
        details.push(Math.abs(at(0, 0) - at(0, 1) - at(1, 0) + at(1, 1)) / 2);
      }
    }
    details.sort((a, b) => a - b);
    total += details[Math.floor(details.length / 2)] / 0.6745;
  }
  return (total / channels) * 255;
}

// ## The model, in a Web Worker (try-it-worker.js)

const worker = new Worker(new URL("./try-it-worker.js", import.meta.url), { type: "module" });
const waiting = new Map(); // request id -> the {resolve, reject} of its promise
let lastRequest = 0;
let workerFailure = null; // the Error that stopped the worker, if it stopped

worker.onmessage = ({ data: { id, pixels, error } }) => {
  if (!waiting.has(id)) return; // its promise was already rejected: the worker had failed
  const { resolve, reject } = waiting.get(id);
  waiting.delete(id);
  if (error === undefined) resolve(pixels); else reject(new Error(error));
};
// The worker itself failed: its script or the runtime's did not load (not made, or not
// served), or it ran out of memory. Nothing it was asked will be answered.
worker.onerror = (event) => {
  event.preventDefault(); // said on the page, not again in the console
  workerFailure = new Error(event.message || "the worker that runs the model stopped");
  for (const { reject } of waiting.values()) reject(workerFailure);
  waiting.clear();
};

function inWorker(model, picture = null, level = 0) {
  // Ask the worker to denoise `picture` with `model` (or, without a picture, only to open
  // the model): a promise of the denoised pixels. The picture is copied to the worker.
  if (workerFailure) return Promise.reject(workerFailure);
  const id = ++lastRequest;
  worker.postMessage({ id, model: { file: model.file, channels: model.channels }, picture, level });
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

// ## Scores and drawing

function psnr(clean, image) {
  let sum = 0;
  for (let i = 0; i < clean.length; i++) {
    const value = Math.min(1, Math.max(0, image[i]));
    sum += (value - clean[i]) ** 2;
  }
  return 10 * Math.log10(1 / Math.max(sum / clean.length, 1e-10));
}

function toImageData(picture, pixels) {
  const { width, height, channels } = picture;
  const image = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) {
      const value = pixels[p * channels + (channels === 1 ? 0 : k)];
      image.data[p * 4 + k] = Math.round(Math.min(1, Math.max(0, value)) * 255);
    }
    image.data[p * 4 + 3] = 255;
  }
  return image;
}

function draw(id, picture, pixels) {
  const canvas = element(id);
  canvas.width = picture ? picture.width : 0;
  canvas.height = picture ? picture.height : 0;
  if (picture && pixels) canvas.getContext("2d").putImageData(toImageData(picture, pixels), 0, 0);
}

function drawCompare() {
  const canvas = element("try-compare");
  const left = element("try-compare-with").value === "clean" ? state.clean : state.noisy;
  if (!state.denoised || !left) {
    canvas.width = canvas.height = 0;
    return;
  }
  const picture = state.noisy;
  const zoom = Number(element("try-zoom").value);
  const split = Math.round((picture.width * Number(element("try-split").value)) / 100);
  const both = toImageData(picture, state.denoised);
  const before = toImageData(picture, left.pixels);
  for (let y = 0; y < picture.height; y++) {
    for (let x = 0; x < split; x++) {
      for (let k = 0; k < 4; k++) both.data[(y * picture.width + x) * 4 + k] = before.data[(y * picture.width + x) * 4 + k];
    }
  }
  const full = new OffscreenCanvas(picture.width, picture.height);
  full.getContext("2d").putImageData(both, 0, 0);
  canvas.width = picture.width * zoom;
  canvas.height = picture.height * zoom;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false; // enlarged pixels stay square
  context.drawImage(full, 0, 0, canvas.width, canvas.height);
  context.fillStyle = "#ff0";
  context.fillRect(split * zoom, 0, 1, canvas.height);
}

// ## The page's steps

function currentModel() {
  return state.models.find((m) => m.name === element("try-model").value);
}

function updateStrength() {
  const model = currentModel();
  const told = model && model.toldTheLevel;
  element("try-strength").disabled = !told;
  element("try-strength-label").style.opacity = told ? 1 : 0.5;
  element("try-strength-value").textContent = element("try-strength").value;
}

function setStrength(sigma) {
  element("try-strength").value = String(Math.round(sigma));
  updateStrength();
}

function showScores(told = "") {
  // The PSNR of the noisy picture and of the denoised one, where the clean one is known
  const scores = [];
  if (state.clean) scores.push(`noisy: ${psnr(state.clean.pixels, state.noisy.pixels).toFixed(2)} dB`);
  if (state.denoised) {
    scores.push(state.clean
      ? `denoised: ${psnr(state.clean.pixels, state.denoised).toFixed(2)} dB${told}` : `denoised${told}`);
  }
  element("try-psnr").textContent = scores.join(", ");
}

function clearResult() {
  // The denoised picture and its score go: they belong to another picture, or the model failed
  state.denoised = null;
  draw("try-denoised", null);
  showScores();
  drawCompare();
}

function makeNoisy() {
  // The noisy picture from the picture and the noise settings, or none without a picture
  // (it failed to open): either way, what was shown of the previous one goes.
  const picture = state.picture;
  if (picture) {
    const asIs = element("try-as-is").checked;
    const sigma = Number(element("try-sigma").value);
    element("try-sigma").disabled = asIs;
    element("try-sigma-value").textContent = String(sigma);
    state.clean = asIs ? null : picture;
    state.noisy = asIs ? picture : addNoise(picture, sigma);
    setStrength(asIs ? estimateSigma(picture) : sigma);
  } else {
    state.clean = state.noisy = null;
  }
  draw("try-clean", state.clean, state.clean && state.clean.pixels);
  draw("try-noisy", state.noisy, state.noisy && state.noisy.pixels);
  clearResult();
}

async function openPicture(blob, name) {
  try {
    state.picture = await readPicture(blob);
    say(`${name}: ${state.picture.width}x${state.picture.height} pixels, ` +
        `${state.picture.channels === 1 ? "grey" : "colour"}`);
  } catch (error) {
    state.picture = null;
    say(`${name}: ${error.message}`);
  }
  makeNoisy();
}

async function denoise() {
  if (!state.noisy) return;
  const model = currentModel();
  const button = element("try-denoise");
  button.disabled = true;
  say(`denoising with ${model.name}…`);
  // The button counts the seconds meanwhile: a large picture takes a while, and the count
  // shows that the page is working (the worker does, the page stays free to answer)
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  button.textContent = "Denoising… 0 s";
  const counter = setInterval(() => {
    button.textContent = `Denoising… ${seconds().toFixed(0)} s`;
  }, 1000);
  const noisy = state.noisy;
  try {
    const level = Number(element("try-strength").value);
    const denoised = await inWorker(model, noisy, level);
    if (state.noisy !== noisy) { // the picture or its noise changed meanwhile
      say("the picture changed while it was denoised: press Denoise again");
      return;
    }
    state.denoised = denoised;
    draw("try-denoised", state.noisy, state.denoised);
    showScores(model.toldTheLevel ? `, told sigma ${level}` : "");
    say(`denoised with ${model.name} in ${seconds().toFixed(2)} s`);
    drawCompare();
  } catch (error) {
    clearResult();
    say(`the model failed: ${error.message}`);
  } finally {
    clearInterval(counter);
    button.textContent = "Denoise";
    state.runs += 1;
    button.disabled = false;
  }
}

async function start() {
  let listing;
  try {
    listing = await (await fetch(new URL("models/models.json", import.meta.url))).json();
  } catch (error) {
    say("The models are not there: run `python -m tools.try_it` before `mkdocs serve`.");
    return;
  }
  state.models = listing.models;
  for (const model of state.models) element("try-model").add(new Option(model.label, model.name));
  for (const sample of listing.samples) element("try-sample").add(new Option(sample.label, sample.file));
  try {
    await inWorker(state.models[0]); // the runtime starts with the first model
  } catch (error) {
    say(`The runtime did not start (${error.message}): run \`python -m tools.try_it\` again.`);
    return;
  }
  element("try-sample").addEventListener("change", openSample);
  element("try-file").addEventListener("change", () => {
    const file = element("try-file").files[0];
    if (file) openPicture(file, file.name);
  });
  element("try-as-is").addEventListener("change", makeNoisy);
  element("try-sigma").addEventListener("input", makeNoisy);
  element("try-model").addEventListener("change", updateStrength);
  element("try-strength").addEventListener("input", updateStrength);
  element("try-denoise").addEventListener("click", denoise);
  for (const id of ["try-split", "try-zoom", "try-compare-with"]) {
    element(id).addEventListener("input", drawCompare);
  }
  updateStrength();
  await openSample();
  element("try-denoise").disabled = false;
  state.ready = true;
  say(`ready: onnxruntime-web ${listing.runtime}, ${state.models.length} models`);
}

async function openSample() {
  const file = element("try-sample").value;
  const response = await fetch(new URL(file, import.meta.url));
  await openPicture(await response.blob(), file.split("/").pop());
}

start();
