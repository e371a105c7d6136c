// Stands in for node:fs in the browser: the GGUF reader's file source imports it; the page reads the model from bytes.
const unavailable = () => {
  throw new Error('node:fs is not available in a browser');
};
export const closeSync = unavailable;
export const fstatSync = unavailable;
export const openSync = unavailable;
export const readSync = unavailable;
