// Text rules shared with the server (protocol §7): user-perceived characters, emotext, mentions.

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** User-perceived characters after NFC, exactly as protocol/text.py counts them (§7.1). */
export function countClusters(text) {
  let n = 0;
  for (const _ of segmenter.segment(text.normalize("NFC"))) n++;
  return n;
}

/** The grapheme clusters of a text, for effects that move letter by letter. */
export const graphemes = (text) => [...segmenter.segment(text)].map((s) => s.segment);

/** The 13 effects of §7.3, in the order the picker shows them. */
export const EMOTEXT = [
  "shake", "super_shake", "big", "small", "runrun", "asease", "uruuru",
  "kirakira", "dokidoki", "fuwafuwa", "gaan", "bikkuri", "pikapika",
];

/** Effects drawn letter by letter (each cluster in its own span). */
export const PER_LETTER = new Set(["shake", "super_shake", "bikkuri"]);

/** The mention pattern of §4.3.1: `@handle` not preceded by a word character or `@`. */
export const MENTION = /(?<![\p{L}\p{N}_@])@([A-Za-z0-9_]{3,20})(?![A-Za-z0-9_])/gu;

/** Split a text into plain runs and mentions: [{text}|{handle, text}]. */
export function splitMentions(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ text: match[0], handle: match[1] });
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

/** Carriage returns are refused by the server (§7.1); browsers may give \r\n from a paste. */
export const cleanText = (text) => text.replace(/\r\n?/g, "\n");
