// UI strings, Japanese and English (three files each: the app, Settings, and the device side of
// offline use and notifications). Keys missing in one language fall back to English;
// tests/test_web.py checks both have every key the code uses.

import { ja } from "./locales/ja.js";
import { en } from "./locales/en.js";
import { jaDevice } from "./locales/ja.device.js";
import { enDevice } from "./locales/en.device.js";
import { jaSettings } from "./locales/ja.settings.js";
import { enSettings } from "./locales/en.settings.js";

export const STRINGS = {
  ja: { ...ja, ...jaSettings, ...jaDevice },
  en: { ...en, ...enSettings, ...enDevice },
};
