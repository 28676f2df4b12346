"""The scheduling engine. Its code API is ``from jobs import enqueue`` (``jobs.api``)."""

__all__ = ["EnqueueRefused", "enqueue"]


def __getattr__(name: str) -> object:
    # Lazy: Django imports this package while it loads the apps, before any model may be imported.
    if name in __all__:
        from jobs import api

        return getattr(api, name)
    raise AttributeError(f"module 'jobs' has no attribute {name!r}")
