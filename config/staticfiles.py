"""Static files: hashed and compressed by ``collectstatic``, served by WhiteNoise from ``STATIC_ROOT``.

Production runs ``collectstatic`` before the web server starts (``make serve``, the Dockerfile): every file
gets a content hash in its name and a gzip copy, and WhiteNoise serves the hashed names with far-future
cache headers. Development and the test suite need not run it: without a manifest, URLs name the source
files unhashed, which runserver and the test live server find through the static finders.
``check --deploy`` warns when the manifest is missing (``ops.checks``), so production cannot forget it.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class CollectedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's compressed manifest storage that names files unhashed until ``collectstatic`` ran."""

    @property
    def collected(self) -> bool:
        """True once this process loaded (or ``collectstatic`` is writing) a manifest of hashed names."""
        return bool(self.hashed_files)

    def stored_name(self, name: str) -> str:
        if not self.collected:
            return name
        return super().stored_name(name)
