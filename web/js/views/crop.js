// Choosing a profile picture: pick a file, then frame a square of it in the browser before it is
// uploaded (kind=avatar): drag or arrow keys to move, the slider, the wheel or +/- to zoom. The
// canvas is the square that will be kept, with the round face shown inside it. Only the 400 px
// square leaves the browser, re-encoded by the canvas (so none of the file's metadata goes with
// it, though the server strips that anyway).

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { upload } from "../upload.js";
import { errorText } from "../ui.js";

/** The side of the square sent (an Avatar's url is at most 400 px). */
const OUT = 400;
/** The side of the canvas on screen, in CSS pixels. */
const VIEW = 280;
const MAX_ZOOM = 4;
const STEP = 12;

/** Decode a picture the right way up (EXIF orientation applied), without a blob: URL. */
async function decode(file) {
  return createImageBitmap(file, { imageOrientation: "from-image" });
}

/**
 * avatarPicker({ onUploaded(media), label }) -> element. A "choose a picture" button; once a
 * file is chosen, the framing canvas, "use this picture" and "cancel". The chosen square is
 * uploaded as kind=avatar, with progress, and onUploaded gets the answer's media (its id goes in
 * profile.update's avatar).
 */
export function avatarPicker({ onUploaded, label } = {}) {
  const input = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp,image/gif,image/avif", hidden: true, class: "file-input", attrs: { tabindex: "-1" } });
  const choose = h("button", { type: "button", class: "choose-picture", on: { click: () => input.click() } }, label || t("avatar.choose"));
  const error = h("p", { class: "form-error", attrs: { role: "alert" } });
  const stage = h("div", { class: "crop-stage", hidden: true });
  const box = h("div", { class: "avatar-picker" }, choose, input, error, stage);
  let job = null;

  input.addEventListener("change", async () => {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    error.textContent = "";
    try {
      const bitmap = await decode(file);
      editor(bitmap);
    } catch {
      error.textContent = t("error.unsupported_format");
    }
  });

  function editor(bitmap) {
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    const canvas = h("canvas", {
      class: "crop-canvas", width: Math.round(VIEW * dpr), height: Math.round(VIEW * dpr), tabIndex: 0,
      attrs: { role: "img", "aria-label": t("avatar.cropLabel"), "aria-describedby": "crop-help" },
    });
    const zoom = h("input", { type: "range", min: 1, max: MAX_ZOOM, step: 0.01, value: 1, name: "zoom", class: "crop-zoom" });
    const progress = h("progress", { max: 1, value: 0, hidden: true, attrs: { "aria-label": t("avatar.uploading") } });
    const use = h("button", { type: "button", class: "primary use-picture" }, t("avatar.use"));
    const cancel = h("button", { type: "button" }, t("avatar.cancel"));
    // The framing: the picture's scale (canvas px per picture px, at zoom 1 it just covers the
    // square) and the picture's point at the canvas centre.
    const cover = Math.max(canvas.width / bitmap.width, canvas.height / bitmap.height);
    let scale = cover;
    let cx = bitmap.width / 2;
    let cy = bitmap.height / 2;

    function clamp() {
      const half = canvas.width / 2 / scale;
      cx = Math.min(Math.max(cx, half), bitmap.width - half);
      cy = Math.min(Math.max(cy, half), bitmap.height - half);
    }

    function drawInto(ctx, side) {
      const s = scale * (side / canvas.width);
      ctx.fillStyle = "#ffffff"; // transparent pictures get a white ground (JPEG has no alpha)
      ctx.fillRect(0, 0, side, side);
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(bitmap, side / 2 - cx * s, side / 2 - cy * s, bitmap.width * s, bitmap.height * s);
    }

    function draw() {
      clamp();
      const ctx = canvas.getContext("2d");
      drawInto(ctx, canvas.width);
      // Shade what falls outside the round face, so the person sees what others will see.
      const w = canvas.width;
      ctx.save();
      ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
      ctx.beginPath();
      ctx.rect(0, 0, w, w);
      ctx.arc(w / 2, w / 2, w / 2, 0, Math.PI * 2, true);
      ctx.fill("evenodd");
      ctx.restore();
    }

    function setZoom(z) {
      const next = Math.min(MAX_ZOOM, Math.max(1, z));
      scale = cover * next;
      zoom.value = String(next);
      draw();
    }

    let dragging = null;
    canvas.addEventListener("pointerdown", (e) => { dragging = { x: e.clientX, y: e.clientY }; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointermove", (e) => {
      if (!dragging) return;
      const k = (canvas.width / canvas.clientWidth) / scale;
      cx -= (e.clientX - dragging.x) * k;
      cy -= (e.clientY - dragging.y) * k;
      dragging = { x: e.clientX, y: e.clientY };
      draw();
    });
    const stop = () => { dragging = null; };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    canvas.addEventListener("wheel", (e) => { e.preventDefault(); setZoom(Number(zoom.value) * (e.deltaY < 0 ? 1.08 : 1 / 1.08)); }, { passive: false });
    canvas.addEventListener("keydown", (e) => {
      const move = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (move) {
        e.preventDefault();
        cx += (move[0] * STEP * (canvas.width / VIEW)) / scale;
        cy += (move[1] * STEP * (canvas.width / VIEW)) / scale;
        draw();
      } else if (e.key === "+" || e.key === "=") { e.preventDefault(); setZoom(Number(zoom.value) + 0.1); }
      else if (e.key === "-") { e.preventDefault(); setZoom(Number(zoom.value) - 0.1); }
    });
    zoom.addEventListener("input", () => setZoom(Number(zoom.value)));

    cancel.addEventListener("click", () => { job?.abort(); close(); choose.focus(); });
    use.addEventListener("click", async () => {
      const out = h("canvas", { width: OUT, height: OUT });
      drawInto(out.getContext("2d"), OUT);
      const blob = await new Promise((resolve) => out.toBlob(resolve, "image/jpeg", 0.9));
      if (!blob) { error.textContent = t("error.internal"); return; }
      use.disabled = true;
      progress.hidden = false;
      error.textContent = "";
      job = upload(blob, "avatar", (f) => { progress.value = f; });
      try {
        const { media } = await job.promise;
        await onUploaded?.(media);
        close();
        choose.focus();
      } catch (err) {
        if (err.code !== "aborted") error.textContent = errorText(err);
        use.disabled = false;
        progress.hidden = true;
      }
    });

    function close() {
      bitmap.close?.();
      stage.hidden = true;
      stage.replaceChildren();
      choose.hidden = false;
    }

    stage.replaceChildren(
      canvas,
      h("p", { class: "hint", id: "crop-help" }, t("avatar.cropHelp")),
      h("label", { class: "crop-zoom-field" }, h("span", {}, t("avatar.zoom")), zoom),
      progress,
      h("div", { class: "crop-actions" }, cancel, use));
    stage.hidden = false;
    choose.hidden = true;
    draw();
    canvas.focus();
  }

  return box;
}
