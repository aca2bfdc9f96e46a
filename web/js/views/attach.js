// Attaching pictures to a post, a reply, a quote or a message: up to 4, chosen with the picker,
// dropped on the form or pasted into the text. Each uploads at once (kind=post) and shows a
// preview, a progress bar, a remove button and an alt text field: prompted, never forced.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import * as store from "../store.js";
import { upload } from "../upload.js";
import { errorText } from "../ui.js";

let serial = 0;
/** What the picker offers; the server decides from the bytes whatever the name says. */
const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,image/avif";

/**
 * attachments({ onChange }) -> { button, input, tray, wire(form, textarea), media(), busy(),
 * failed(), count(), clear() }. media() gives [{id, alt?}] in order for post.create / dm.send.
 */
export function attachments({ onChange = () => {} } = {}) {
  const n = ++serial;
  const max = () => store.state.limits?.media_max_attachments ?? 4;
  const items = [];
  const input = h("input", { type: "file", accept: ACCEPT, multiple: true, hidden: true, class: "file-input", id: `attach-input-${n}`, attrs: { tabindex: "-1" } });
  const button = h("button", {
    type: "button", class: "attach-button", attrs: { "aria-controls": `attach-tray-${n}` },
    on: { click: () => input.click() },
  }, h("span", { attrs: { "aria-hidden": "true" } }, "🖼 "), t("attach.add"));
  const tray = h("ul", { class: "attach-tray", id: `attach-tray-${n}`, hidden: true, attrs: { "aria-label": t("attach.tray") } });
  const note = h("p", { class: "attach-note", attrs: { role: "status" } });

  input.addEventListener("change", () => { add([...input.files]); input.value = ""; });

  function changed() {
    tray.hidden = items.length === 0;
    button.disabled = items.length >= max();
    onChange();
  }

  function add(files) {
    note.textContent = "";
    // Not a picture, or over the server's bound: said at once, and not sent (a phone network in
    // a disaster has no bytes to spare). The server decides the rest from the bytes.
    const most = store.state.limits?.media_max_bytes;
    const images = files.filter((f) => (!f.type || f.type.startsWith("image/")) && !(most && f.size > most));
    if (images.length < files.length) {
      note.textContent = files.some((f) => most && f.size > most) ? t("error.too_large") : t("error.unsupported_format");
    }
    const room = max() - items.length;
    if (images.length > room) note.textContent = t("attach.tooMany", { n: max() });
    for (const file of images.slice(0, Math.max(0, room))) start(file);
    changed();
  }

  function start(file) {
    const item = { file, state: "uploading", media: null, job: null, preview: URL.createObjectURL(file) };
    const index = items.length + 1;
    const img = h("img", { class: "attach-preview", src: item.preview, alt: "" });
    const progress = h("progress", { max: 1, value: 0, attrs: { "aria-label": t("attach.uploading", { name: file.name || "" }) } });
    const status = h("span", { class: "attach-status", attrs: { role: "status" } }, t("attach.uploadingShort"));
    const alt = h("textarea", {
      class: "attach-alt", rows: 2, maxLength: 1000, name: `alt-${index}`,
      placeholder: t("attach.altPlaceholder"),
      attrs: { "aria-label": t("attach.altLabel", { n: index }) },
    });
    const altHint = h("span", { class: "alt-hint" }, t("attach.altPrompt"));
    alt.addEventListener("input", () => { altHint.hidden = !!alt.value.trim(); });
    const remove = h("button", {
      type: "button", class: "attach-remove", attrs: { "aria-label": t("attach.remove", { n: index }) },
      on: { click: () => drop(item) },
    }, "✕");
    item.alt = alt;
    item.el = h("li", { class: "attach-item", dataset: { state: "uploading" } },
      h("div", { class: "attach-thumb" }, img, remove), progress, status,
      h("label", { class: "attach-alt-field" }, alt, altHint));
    items.push(item);
    tray.append(item.el);
    item.job = upload(file, "post", (fraction) => { progress.value = fraction; });
    item.job.promise.then(({ media }) => {
      item.media = media;
      item.state = "done";
      // The served thumbnail, not the local copy: what the post will show.
      img.src = media.thumbnail.url;
      progress.hidden = true;
      status.textContent = t("attach.ready");
    }, (err) => {
      if (err.code === "aborted") return;
      item.state = "error";
      progress.hidden = true;
      status.textContent = errorText(err);
      status.classList.add("error");
    }).finally(() => {
      item.el.dataset.state = item.state;
      if (items.includes(item)) onChange();
    });
  }

  function drop(item) {
    const i = items.indexOf(item);
    if (i < 0) return;
    items.splice(i, 1);
    if (item.state === "uploading") item.job?.abort();
    URL.revokeObjectURL(item.preview);
    item.el.remove();
    // Renumber the labels that say which picture is which.
    items.forEach((it, k) => {
      it.alt.setAttribute("aria-label", t("attach.altLabel", { n: k + 1 }));
      it.el.querySelector(".attach-remove").setAttribute("aria-label", t("attach.remove", { n: k + 1 }));
    });
    changed();
    button.focus();
  }

  /** Dropping files on the form and pasting pictures into the text attach them. */
  function wire(form, textarea) {
    form.addEventListener("dragover", (e) => {
      if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
      e.preventDefault();
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", (e) => { if (!form.contains(e.relatedTarget)) form.classList.remove("dropping"); });
    form.addEventListener("drop", (e) => {
      form.classList.remove("dropping");
      const files = [...(e.dataTransfer?.files || [])];
      if (!files.length) return;
      e.preventDefault();
      add(files);
    });
    textarea.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.items || [])].filter((i) => i.kind === "file").map((i) => i.getAsFile()).filter(Boolean);
      if (!files.length) return;
      e.preventDefault();
      add(files);
    });
  }

  return {
    button, input, tray, note, wire, add,
    count: () => items.length,
    busy: () => items.some((it) => it.state === "uploading"),
    failed: () => items.some((it) => it.state === "error"),
    media: () => items.filter((it) => it.state === "done").map((it) => {
      const alt = it.alt.value.trim();
      return alt ? { id: it.media.id, alt } : { id: it.media.id };
    }),
    clear() {
      for (const it of [...items]) { URL.revokeObjectURL(it.preview); it.el.remove(); }
      items.length = 0;
      note.textContent = "";
      changed();
    },
  };
}
