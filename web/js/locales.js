// UI strings, Japanese and English (two files each: the app, and the device side of offline use
// and notifications). Keys missing in one language fall back to English; tests/test_web.py checks
// both have every key the code uses.

import { ja } from "./locales/ja.js";
import { en } from "./locales/en.js";
import { jaDevice } from "./locales/ja.device.js";
import { enDevice } from "./locales/en.device.js";

export const STRINGS = { ja: { ...ja, ...jaDevice }, en: { ...en, ...enDevice } };
