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
  estimate: null, // for a picture noisy already: {sigma, told, how} (estimatedStrength)
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

// ## The noise level of a noisy picture, as denoise.py estimates it
//
// `auto` (noise.estimate_noise_level): in the finest details of a photo there is little but
// noise, which has as much there as anywhere; the median of their absolute values / 0.6745
// is the noise's standard deviation (Donoho's rule), averaged over the channels. The details
// are scikit-image's: the diagonal ones of the Daubechies-2 wavelet, as PyWavelets computes
// them, so the page's number is denoise.py's. Almost always: scikit-image leaves out the
// details that are exactly zero, and in a flat area its single-precision sums come out
// exactly zero for some greys where the page's double-precision ones are 1e-30 or so; on a
// picture with large flat areas the two can then differ. `camera`
// (noise.estimate_camera_noise_level) also reads the picture averaged over blocks, where a
// camera's noise, shared between neighbours, lives on. The settings, and the wavelet's
// filter, come from Python, in models.json (tools/try_it.py).

function highPass(read, length, filter) {
  // The Daubechies-2 details of a row or column (read(j) its j-th value; `filter` the
  // wavelet's high-pass filter): PyWavelets' dwt(signal, "db2", mode="symmetric"), the
  // signal mirrored at each end
  const mirrored = (j) => (j < 0 ? -1 - j : j >= length ? 2 * length - 1 - j : j);
  const details = new Float64Array(Math.floor((length + 3) / 2));
  for (let i = 0; i < details.length; i++) {
    let sum = 0;
    for (let k = 0; k < filter.length; k++) sum += filter[k] * read(mirrored(1 + 2 * i - k));
    details[i] = sum;
  }
  return details;
}

function diagonalDetails(picture, c, filter) {
  // Channel c's diagonal details: high-passed along each row, then down each column
  const { width, height, channels, pixels } = picture;
  const across = Math.floor((width + 3) / 2);
  const rows = new Float64Array(height * across);
  for (let y = 0; y < height; y++) {
    rows.set(highPass((x) => pixels[(y * width + x) * channels + c], width, filter), y * across);
  }
  const details = [];
  for (let i = 0; i < across; i++) {
    details.push(...highPass((y) => rows[y * across + i], height, filter));
  }
  return details;
}

function median(sorted) {
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
}

function estimateSigma(picture, settings) {
  // `auto`: the noise's standard deviation on the 0-1 scale; NaN where most details are
  // zero (a flat picture), which says nothing about noise (noise.has_texture_to_estimate_from)
  let total = 0;
  for (let c = 0; c < picture.channels; c++) {
    const sizes = diagonalDetails(picture, c, settings.highPass).map(Math.abs);
    const textured = sizes.filter((size) => size > settings.zeroDetail).length;
    if (textured < settings.minTexturedFraction * sizes.length) return NaN;
    total += median(Float64Array.from(sizes.filter((size) => size !== 0)).sort()) / settings.donoho;
  }
  return total / picture.channels;
}

function blockMeans(picture, block) {
  // The picture averaged over block x block blocks (noise.block_means)
  const { channels, pixels } = picture;
  const width = Math.floor(picture.width / block);
  const height = Math.floor(picture.height / block);
  const means = new Float32Array(width * height * channels);
  for (let y = 0; y < height * block; y++) {
    for (let x = 0; x < width * block; x++) {
      for (let c = 0; c < channels; c++) {
        const at = (Math.floor(y / block) * width + Math.floor(x / block)) * channels + c;
        means[at] += pixels[(y * picture.width + x) * channels + c];
      }
    }
  }
  return { width, height, channels, pixels: means.map((sum) => sum / (block * block)) };
}

function estimateCameraSigma(picture, settings) {
  // `camera`: the larger of `auto` and cameraFactor times `auto` of the block means
  const fine = estimateSigma(picture, settings);
  const blocks = blockMeans(picture, settings.cameraBlock);
  if (Number.isNaN(fine) || Math.min(blocks.width, blocks.height) < settings.minBlocks) return fine;
  const coarse = estimateSigma(blocks, settings);
  return Number.isNaN(coarse) ? fine : Math.max(fine, settings.cameraFactor * coarse);
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
  element("try-strength").value = sigma.toFixed(1); // the slider's step: a tenth of a sigma
  updateStrength();
}

function estimatedStrength(picture) {
  // The level denoise.py tells a model for a picture noisy already (sigma, of 255): with
  // --noise-level auto its estimate; with camera cameraLevelFactor times the camera estimate
  // (the models told the level learned white noise: told the camera noise's own spread,
  // they leave most of it). NaN where the picture has too little detail to estimate from.
  const settings = state.estimates;
  if (element("try-estimate").value === "camera") {
    const sigma = 255 * estimateCameraSigma(picture, settings);
    return { sigma, told: settings.cameraLevelFactor * sigma,
      how: `camera noise estimated at sigma ${sigma.toFixed(1)}, told ${settings.cameraLevelFactor} times it` };
  }
  const sigma = 255 * estimateSigma(picture, settings);
  return { sigma, told: sigma, how: `noise estimated at sigma ${sigma.toFixed(1)}` };
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
    element("try-estimate").disabled = !asIs;
    element("try-sigma-value").textContent = String(sigma);
    state.clean = asIs ? null : picture;
    state.noisy = asIs ? picture : addNoise(picture, sigma);
    state.estimate = asIs ? estimatedStrength(picture) : null;
    const top = Number(element("try-strength").max);
    element("try-estimate-value").textContent = !asIs ? "" : Number.isNaN(state.estimate.told)
      ? "too little detail to estimate the noise from: set the strength by hand"
      : `${state.estimate.how}: strength ${state.estimate.told.toFixed(1)}` +
        (state.estimate.told > top ? ` (the slider stops at ${top})` : "");
    if (!asIs) setStrength(sigma);
    else if (!Number.isNaN(state.estimate.told)) setStrength(state.estimate.told);
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
  state.estimates = listing.estimates;
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
  element("try-estimate").addEventListener("change", makeNoisy);
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
