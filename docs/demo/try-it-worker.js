// The "Try it" page's model runner, in a Web Worker: a thread of its own, next to the page's.
//
// onnxruntime-web runs a model in one long call that nothing interrupts: on the page's own
// thread it froze the tab for the whole denoising (seconds for a small photo, half a minute
// for a million pixels), with no scrolling, no clicks and no progress shown. Here it only
// keeps this thread busy. The page (try-it.js) posts a request:
//
//   {id, model: {file, channels}, picture, level}
//
// where picture is {width, height, channels, pixels: Float32Array, HxWxC in [0, 1]}, and it
// gets back {id, pixels} (the denoised picture, same shape) or {id, error}. A request
// without a picture only opens the model: the page does that first, to know that the
// runtime starts.
//
// It does what denoise.py does for a picture that fits in one piece: pad it by reflection
// to a multiple of 8 pixels a side, as denoise.py pads (each down-sampling of a U-Net
// halves the sides, which must divide evenly), run the model, cut the padding off, clip
// to [0, 1]; a grey model denoises a colour picture one channel at a time, and a colour
// model a grey picture as RGB, then averaged.

import * as ort from "./ort/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
// The "threaded" build runs on one thread too: more threads need the page to be served with
// cross-origin isolation headers, which a static site cannot count on.
ort.env.wasm.numThreads = 1;

const PAD_MULTIPLE = 8;
const sessions = {}; // model file -> ort.InferenceSession, made on first use

async function session(file) {
  if (!sessions[file]) {
    sessions[file] = await ort.InferenceSession.create(
      new URL(file, import.meta.url).href, { executionProviders: ["wasm"] });
  }
  return sessions[file];
}

function reflect(index, length) {
  // NumPy's "reflect" padding: the edge pixel is not repeated (5 6 7 | 6 5); at most 7
  // pixels are added to a side of at least 16 (the page refuses smaller pictures), so one
  // reflection is enough
  return index < length ? index : 2 * (length - 1) - index;
}

async function runModel(model, picture, level) {
  // One picture with the model's own channels -> its denoised pixels, same shape; `model`
  // is its ort.InferenceSession.
  const { width, height, channels, pixels } = picture;
  const paddedHeight = Math.ceil(height / PAD_MULTIPLE) * PAD_MULTIPLE;
  const paddedWidth = Math.ceil(width / PAD_MULTIPLE) * PAD_MULTIPLE;
  const padded = new Float32Array(paddedHeight * paddedWidth * channels);
  for (let y = 0; y < paddedHeight; y++) {
    for (let x = 0; x < paddedWidth; x++) {
      const from = (reflect(y, height) * width + reflect(x, width)) * channels;
      for (let c = 0; c < channels; c++) {
        padded[(y * paddedWidth + x) * channels + c] = pixels[from + c];
      }
    }
  }
  const feeds = {};
  const takesLevel = model.inputNames.includes("noise_level");
  const imageInput = model.inputNames.find((name) => name !== "noise_level");
  feeds[imageInput] = new ort.Tensor("float32", padded, [1, paddedHeight, paddedWidth, channels]);
  if (takesLevel) feeds.noise_level = new ort.Tensor("float32", new Float32Array([level / 255]), [1, 1]);
  const output = (await model.run(feeds))[model.outputNames[0]].data;
  const result = new Float32Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const value = output[(y * paddedWidth + x) * channels + c];
        result[(y * width + x) * channels + c] = Math.min(1, Math.max(0, value));
      }
    }
  }
  return result;
}

function channel(picture, c) {
  const { width, height, channels, pixels } = picture;
  const one = new Float32Array(width * height);
  for (let p = 0; p < width * height; p++) one[p] = pixels[p * channels + c];
  return { width, height, channels: 1, pixels: one };
}

async function denoisePicture(model, modelChannels, picture, level) {
  const { width, height, channels } = picture;
  if (modelChannels === channels) return runModel(model, picture, level);
  const result = new Float32Array(width * height * channels);
  if (modelChannels === 1) { // a grey model: one colour channel at a time
    for (let c = 0; c < channels; c++) {
      const denoised = await runModel(model, channel(picture, c), level);
      for (let p = 0; p < width * height; p++) result[p * channels + c] = denoised[p];
    }
    return result;
  }
  // a colour model on a grey picture: as RGB, then the channels averaged
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.fill(picture.pixels[p], p * 3, p * 3 + 3);
  const denoised = await runModel(model, { width, height, channels: 3, pixels: rgb }, level);
  for (let p = 0; p < width * height; p++) {
    result[p] = (denoised[p * 3] + denoised[p * 3 + 1] + denoised[p * 3 + 2]) / 3;
  }
  return result;
}

self.onmessage = async ({ data: { id, model, picture, level } }) => {
  try {
    const opened = await session(model.file);
    if (!picture) {
      postMessage({ id });
      return;
    }
    const pixels = await denoisePicture(opened, model.channels, picture, level);
    postMessage({ id, pixels }, [pixels.buffer]); // handed over, not copied
  } catch (error) {
    // onnxruntime-web throws an Error, or at times a bare string or number
    postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
