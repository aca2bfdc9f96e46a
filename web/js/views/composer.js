// The composer: a live count of user-perceived characters (the server's count, §7.1), the emotext
// picker with a preview, replies, quotes, community posts and announcements.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { countClusters, cleanText, EMOTEXT } from "../text.js";
import { publish, pendingCount } from "../outbox.js";
import * as store from "../store.js";
import { toast, errorText } from "../ui.js";
import { renderText, authorLine } from "./post.js";
import { attachments } from "./attach.js";

let serial = 0;

/**
 * options: replyTo (post id), quote (Post), communityId, announce (bool), placeholder,
 * onPosted(post), compact (bool).
 */
export function createComposer(options = {}) {
  const n = ++serial;
  const max = () => store.state.limits?.post_max_clusters ?? 149;
  let emotext = null;
  let quote = options.quote || null;

  const textarea = h("textarea", {
    name: "text", rows: options.compact ? 2 : 3, id: `composer-text-${n}`,
    placeholder: options.placeholder || t("composer.placeholder"),
    attrs: { "aria-label": options.placeholder || t("composer.placeholder"), "aria-describedby": `composer-count-${n}` },
  });
  const counter = h("span", { class: "counter", id: `composer-count-${n}`, attrs: { "aria-live": "off" } });
  const submit = h("button", { type: "submit", class: "primary" }, options.announce ? t("composer.announce") : options.replyTo ? t("composer.reply") : t("composer.post"));
  const preview = h("div", { class: "preview", hidden: true, attrs: { "aria-label": t("composer.preview") } });
  const quoteBox = h("div", { class: "quote-box" });
  const pending = h("span", { class: "pending", attrs: { role: "status" } });
  const pictures = attachments({ onChange: () => update() });

  const choices = [null, ...EMOTEXT].map((name) => h("button", {
    type: "button", class: "emo-choice", dataset: { emotext: name || "none" },
    attrs: { role: "radio", "aria-checked": name === null ? "true" : "false" },
    on: { click: () => choose(name) },
  }, name ? t(`emotext.${name}`) : t("emotext.none")));
  const panel = h("div", { class: "emo-panel", hidden: true, attrs: { role: "radiogroup", "aria-label": t("composer.emotext") } }, choices);
  panel.addEventListener("keydown", (e) => {
    const i = choices.indexOf(document.activeElement);
    if (i < 0) return;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (step) { e.preventDefault(); choices[(i + step + choices.length) % choices.length].focus(); }
    if (e.key === "Escape") { panel.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.focus(); }
  });
  const toggle = h("button", {
    type: "button", class: "emo-toggle", attrs: { "aria-expanded": "false" },
    on: {
      click: () => {
        panel.hidden = !panel.hidden;
        toggle.setAttribute("aria-expanded", String(!panel.hidden));
        if (!panel.hidden) choices.find((c) => c.getAttribute("aria-checked") === "true")?.focus();
      },
    },
  }, "✨ ", t("composer.emotext"));

  function choose(name) {
    emotext = name;
    for (const c of choices) c.setAttribute("aria-checked", String((c.dataset.emotext === "none" ? null : c.dataset.emotext) === name));
    toggle.classList.toggle("active", !!name);
    toggle.replaceChildren("✨ ", name ? t(`emotext.${name}`) : t("composer.emotext"));
    update();
  }

  function update() {
    const text = cleanText(textarea.value);
    const count = countClusters(text);
    const blank = text.trim() === "";
    counter.textContent = `${count} / ${max()}`;
    counter.classList.toggle("over", count > max());
    counter.classList.toggle("near", count > max() - 10 && count <= max());
    // Pictures still uploading, or one refused (remove it first), hold the post back.
    submit.disabled = blank || count > max() || pictures.busy() || pictures.failed();
    preview.hidden = !emotext || blank;
    if (!preview.hidden) preview.replaceChildren(h("span", { class: "preview-label" }, t("composer.preview")), renderText(text, emotext));
    const queued = pendingCount();
    pending.textContent = queued ? t("composer.queued", { n: queued }) : "";
  }

  function showQuote() {
    quoteBox.replaceChildren();
    if (!quote) return;
    quoteBox.append(h("div", { class: "embed" },
      h("div", { class: "meta" }, authorLine(quote.author)),
      renderText(quote.text, quote.emotext, { tag: "div" }),
      h("button", { type: "button", class: "link", on: { click: () => { quote = null; showQuote(); } } }, t("composer.removeQuote"))));
  }

  const form = h("form", { class: ["composer", options.compact && "compact"], attrs: { "aria-label": t("composer.label") } },
    quoteBox, textarea, preview, pictures.tray, pictures.note, pictures.input,
    h("div", { class: "composer-bar" }, pictures.button, toggle, h("span", { class: "spacer" }), pending, counter, submit),
    panel);
  pictures.wire(form, textarea);

  textarea.addEventListener("input", update);
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    const text = cleanText(textarea.value);
    const args = { text, emotext: emotext || undefined };
    const media = pictures.media();
    if (media.length) args.media = media;
    let op = "post.create";
    if (options.announce) { op = "community.announce"; args.community_id = options.communityId; }
    else {
      if (options.replyTo) args.reply_to = options.replyTo;
      if (quote) args.quote_of = quote.id;
      if (options.communityId) args.community_id = options.communityId;
    }
    // Disabling the focused button drops the focus to the page: bring it back to the text, so
    // a keyboard user can go on writing.
    const hadFocus = form.contains(document.activeElement);
    submit.disabled = true;
    try {
      const post = await publish(op, args);
      textarea.value = "";
      pictures.clear();
      quote = null;
      showQuote();
      choose(null);
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      if (post) {
        store.rememberPost(post);
        options.onPosted?.(post);
      } else {
        toast(t("composer.queuedToast"));
      }
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      update();
      if (hadFocus && (document.activeElement === document.body || document.activeElement === submit)) textarea.focus({ preventScroll: true });
    }
  });
  const off = store.on("outbox", update);
  form.addEventListener("composer:destroy", off);

  form.setQuote = (post) => { quote = post; showQuote(); textarea.focus(); };
  form.focusText = () => textarea.focus();
  showQuote();
  update();
  return form;
}
