// Picture uploads go over HTTP, never the socket (§11.11): POST /api/media?kind=post|avatar with
// the file's bytes as the body (the server decides the format from the bytes; Content-Type is
// ignored), authenticated by the HttpOnly session cookie and the page's Origin, as /api/logout is.
// XMLHttpRequest rather than fetch, for its upload progress events.

/** An upload refused or failed: code is the server's error code (or "disconnected"). */
export class UploadError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    this.path = extra.path ?? null;
    this.retryAfterMs = extra.retry_after_ms ?? null;
  }
}

/**
 * Upload a File or Blob. onProgress(fraction 0..1) is called as bytes go out.
 * Resolves with { media, expires_at }; rejects with an UploadError. Returns { promise, abort }.
 */
export function upload(blob, kind = "post", onProgress = () => {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", `/api/media?kind=${encodeURIComponent(kind)}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: a proxy's page */ }
      if (xhr.status === 201 && body?.media) { onProgress(1); resolve(body); return; }
      const error = body?.error;
      const code = error?.code || { 413: "too_large", 415: "unsupported_format", 401: "not_authenticated", 503: "busy", 429: "rate_limited" }[xhr.status] || "internal";
      const retry = error?.retry_after_ms ?? (Number(xhr.getResponseHeader("Retry-After")) * 1000 || null);
      reject(new UploadError(code, error?.message, { path: error?.path, retry_after_ms: retry }));
    });
    xhr.addEventListener("error", () => reject(new UploadError("disconnected")));
    xhr.addEventListener("abort", () => reject(new UploadError("aborted")));
    xhr.send(blob);
  });
  return { promise, abort: () => xhr.abort() };
}
