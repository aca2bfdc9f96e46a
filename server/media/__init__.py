"""Pictures: what an upload's bytes become before anything stores or serves them.

``images.process`` is pure (bytes in, re-encoded variants out: no HTTP, no storage);
``worker.ImageWorker`` runs it off the event loop in a bounded pool. See docs/topics/media.md.
"""

from server.media.images import Limits, MediaError, MediaErrorCode, Processed, Variant, process
from server.media.worker import ImageWorker

__all__ = ["ImageWorker", "Limits", "MediaError", "MediaErrorCode", "Processed", "Variant", "process"]
