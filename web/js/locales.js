// UI strings, Japanese and English (one file each). Keys missing in one language fall back to
// English; tests/test_web.py checks both have every key the code uses.

import { ja } from "./locales/ja.js";
import { en } from "./locales/en.js";

export const STRINGS = { ja, en };
