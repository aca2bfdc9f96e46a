// The one way server HTML enters the page: the "during a disaster" page's `html`
// (PROTOCOL.md 11.15). The server renders it safe already (no raw HTML, no images, links only
// https/http/mailto/tel or within the app); this copies it again element by element from an
// inert parse, keeping only the elements and attributes that rendering can produce, so that a
// server bug or a tampered cache still cannot put script, handlers or foreign loads in the app.

const ELEMENTS = new Set([
  "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code",
  "em", "strong", "s", "a", "hr", "br", "table", "thead", "tbody", "tr", "th", "td",
]);
const LINK_SCHEMES = new Set(["https:", "http:", "mailto:", "tel:"]);

/** A link target the page may have, as the server allows them. */
export function allowedHref(href) {
  const value = href.trim();
  if (value.startsWith("#") || (value.startsWith("/") && !value.startsWith("//"))) return true;
  const colon = value.indexOf(":");
  return colon > 0 && LINK_SCHEMES.has(value.slice(0, colon + 1).toLowerCase());
}

function copy(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.data);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const tag = node.localName;
  const children = [...node.childNodes].map(copy).filter(Boolean);
  if (!ELEMENTS.has(tag)) return children.length ? children : null; // unknown: its text only
  const el = document.createElement(tag);
  if (tag === "a") {
    const href = node.getAttribute("href") || "";
    if (allowedHref(href)) {
      el.setAttribute("href", href);
      if (/^https?:/i.test(href.trim())) {
        el.className = "external";
        el.target = "_blank";
        el.rel = "noopener noreferrer";
      }
    }
    const title = node.getAttribute("title");
    if (title) el.title = title;
  } else if (tag === "ol" && node.hasAttribute("start")) {
    const start = parseInt(node.getAttribute("start"), 10);
    if (Number.isFinite(start)) el.start = start;
  } else if ((tag === "th" || tag === "td") && /^text-align:(left|right|center)$/.test(node.getAttribute("style") || "")) {
    el.style.textAlign = node.getAttribute("style").split(":")[1];
  }
  el.append(...children.flat());
  return el;
}

/** Replace `container`'s children with `html`, copied through the allowlist above. */
export function setPageHtml(container, html) {
  // DOMParser's document is inert: nothing in it runs or loads.
  const parsed = new DOMParser().parseFromString(String(html), "text/html");
  const nodes = [...parsed.body.childNodes].map(copy).filter(Boolean).flat();
  container.replaceChildren(...nodes);
}
