"""The REST API of a served library (FastAPI), versioned under ``/api/v1``, over the same
service layer as the page (:class:`tempme.app.context.AppContext`): one code path for a search.

- :mod:`.app`: the FastAPI factory (:func:`~.app.create_app`), the page mounted on it;
- :mod:`.schemas`: the Pydantic models that are the API's schema (fields with units);
- :mod:`.routes`: one small module per resource (search, moments, videos, jobs, system);
- :mod:`.problems`: RFC 9457 problem+json errors (a person's mistake: one INFO line);
- :mod:`.keys`: who may call (API keys, the page's login, signed file links);
- :mod:`.metrics`: Prometheus text (prometheus-client);
- :mod:`.jobs`: uploads and folder indexing as jobs in the catalog;
- :mod:`.readiness`: what ``/ready`` checks (pluggable);
- :mod:`.server`: uvicorn for ``tempme serve`` (one process, or N replicas).

The only package that imports FastAPI, Starlette and uvicorn (an import-linter contract).
"""
