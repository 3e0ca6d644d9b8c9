"""The wire contract between Python and the lab extension, generated from the data classes.

``registry.ROOTS`` names every message type that crosses the wire; ``schema``
turns them into one JSON Schema (``python -m codex_nb.wire schema``), from which
the lab extension's TypeScript types are generated (``jlpm gen:types``).

This package's ``__init__`` imports nothing: ``fields`` is imported by the data
classes themselves, and the registry imports those data classes.
"""
