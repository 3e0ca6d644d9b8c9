"""Inline (ghost-text) completion for notebook cells.

The lab extension asks ``POST /codex-nb/complete`` while the user types; the
answer streams back as Server-Sent Events. What the model sees is built by
:mod:`.context` (the cell around the cursor, neighbouring cells with trimmed
outputs, the kernel's names, signatures of repository symbols the cell imports),
within a small token budget. :mod:`.backends` turns it into a request for one of
four kinds of model: the embedded model (prefix completion in-process), a GGUF
with fill-in-the-middle tokens (``/infill`` of llama.cpp's server), an
OpenAI-compatible ``/completions`` endpoint (with ``suffix``), or a chat model.
:mod:`.service` cancels superseded requests, caches recent answers and, for local
models, prepares the next completion speculatively. :mod:`.stats` keeps accept /
dismiss counts on this machine only.
"""
