"""Errors of the job layer (each carries a hint; the HTTP layer maps them to status codes)."""

from __future__ import annotations

from ..audio import OutputError
from ..errors import ExpotionError


class QueueFull(ExpotionError):
    """The bounded job queue has no free slot."""

    hint = "Wait for queued jobs to finish (or cancel some), then submit again."
    #: Seconds a client should wait before trying again (the HTTP layer sends it as `Retry-After`).
    retry_after_s = 5


class JobNotFound(ExpotionError, KeyError):
    """No job (or no take of a job) with that id."""

    hint = "Check the job id; ids are returned by POST /v1/jobs."

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class JobNotFinished(ExpotionError):
    """The job has no result (yet): it is queued, running, failed or cancelled."""

    hint = "Wait for the job's status to become succeeded (GET /v1/jobs/{id} or its events)."


class InputRejected(ExpotionError, ValueError):
    """The video input cannot be accepted: path mode off, a path outside the media root, a missing
    file, or an upload that is empty."""

    hint = "Upload the video as the `video` part, or start the service with --media-root and send a path under it."


class MediaChanged(InputRejected):
    """A path-mode file is not what was checked: it changed, or its name leads outside the media root now."""

    hint = (
        "Leave a path-mode file in place and unchanged until its job has run (links must stay inside the media "
        "root), then submit the job again."
    )


class UploadNotStored(OutputError):
    """An upload could not be written to the work dir (disk full, quota); nothing of it was kept."""

    hint = (
        "Free disk space in the service's work dir (or lower EXPOTION_MAX_STORAGE_MB so older results are "
        "removed sooner), then send the video again; nothing of this upload was kept."
    )


class RunLost(ExpotionError):
    """The process running a job died mid-run (e.g. a Ray generator replica was killed); the job is
    deterministic given its inputs and seed, so it may run again."""

    hint = "The job runs again on another worker until it has used the service's max_attempts."


class StorageFull(OutputError):
    """The work dir's disk (or quota) is full: a job record or result could not be written."""

    hint = (
        "Free disk space in the service's work dir (or lower EXPOTION_MAX_STORAGE_MB so older results are "
        "removed sooner), then submit again; nothing of this request was kept."
    )


class IdempotencyKeyReused(ExpotionError, ValueError):
    """An `Idempotency-Key` already names a job made from a different request."""

    hint = (
        "Send a new Idempotency-Key for a new request; resend the same key only with the very same request "
        "(the same video, parameters and seed) to find the job it made."
    )
