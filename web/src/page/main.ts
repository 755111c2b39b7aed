/** The page: the core's API on `window.pointerbridge` (what the tests drive), and the UI. */
import * as core from "../core/index.js";

declare global {
  interface Window {
    pointerbridge: typeof core;
  }
}

Object.defineProperty(window, "pointerbridge", { value: Object.freeze({ ...core }), enumerable: true });
