"""The ingest room, shaped like clip-retrieval's inference: plan what changed (:mod:`.plan`), an
engine decodes and encodes (:class:`~.outcomes.Executor`: :mod:`.executor` threads here,
:mod:`.ray` on a cluster), one writer commits (:mod:`.writer`); :mod:`.run` chains them for
``Library.add`` and :mod:`.reindex` re-encodes a whole library with a second writer into a
staging folder. :mod:`.encoders` loads, checks and binds the library's encoder; :mod:`.options`
is what a run is asked to do.

Names resolve on first use: planning and writing never import torch."""

from tempme.index.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("IngestOptions",), "options"),
    **dict.fromkeys(("Executor", "FileStamp", "Outcome", "VideoFailure", "VideoResult"), "outcomes"),
    **dict.fromkeys(("IngestPlan", "gone_videos", "plan_ingest"), "plan"),
    **dict.fromkeys(("ChangeBatch", "ChangeSink", "WatchConfig"), "batches"),
    **dict.fromkeys(("plan_batch", "relink"), "changeset"),
    "Watcher": "watch",
    **dict.fromkeys(("Committer", "storage_message", "to_new_video"), "writer"),
    **dict.fromkeys(
        (
            "add_videos",
            "engine_for",
            "plan_paths",
            "remove_videos",
            "request_spec",
        ),
        "run",
    ),
    **dict.fromkeys(("STAGING_NAME", "Staging", "discard_staging", "reindex_spec", "reindex_videos"), "reindex"),
    **dict.fromkeys(("FileChangedError", "LocalExecutor"), "executor"),
    "RayExecutor": "ray",
    **dict.fromkeys(("IngestTarget", "library_query_model"), "target"),
    **dict.fromkeys(("QUERY_MODEL_DIR", "ensure_query_model", "library_state"), "query_model"),
    **dict.fromkeys(
        (
            "EncoderHandle",
            "EncoderSpec",
            "activation_name",
            "bind",
            "check_request",
            "load",
            "load_for_library",
            "load_recorded",
            "load_spec",
            "loaded_spec",
            "recorded_spec",
            "resolve_request",
        ),
        "encoders",
    ),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
