"""Streaming the model's answer into a widget at a bounded rate.

Every widget update is a comm message to the browser; pushing each token
would flood the channel on a fast model. ``Throttle`` shows the first token at
once (latency is what people notice) and then at most one update per
``interval`` seconds, with a timer so the tail is shown even if the stream pauses.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from .render import stream_html


class Throttle:
    def __init__(self, push: Callable[[str], None], interval: float = 0.05):
        self.push = push
        self.interval = interval
        self.text = ""
        self.pushes = 0
        self._last = 0.0
        self._shown = 0  # length of text already pushed
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def add(self, delta: str) -> None:
        with self._lock:
            self.text += delta
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if len(self.text) == self._shown:
                return
            text = self.text
            self._shown = len(text)
            self._last = time.monotonic()
            self.pushes += 1
        self.push(text)


class StreamView:
    """Shows the answer as it arrives; ``on_delta`` is the assistant's callback.

    In a cell it is a display that gets updated (``update_display_data``): that
    works in every front end, and papermill/nbconvert keep its final state. After
    the cell has finished (the Fix button), it is an HTML widget instead.
    """

    def __init__(self, widget=None, interval: float = 0.05):
        self.widget = widget
        self.handle = None
        if widget is None:
            from IPython.display import HTML, display

            self.handle = display(HTML(stream_html("")), display_id=True)
        self.throttle = Throttle(self._show, interval)
        self.status_text: str | None = None

    def status(self, text: str) -> None:
        """Say what is happening before the first token arrives (``render.reading_text(tokens)``)."""
        self.status_text = text
        self._show(self.throttle.text)

    def _show(self, text: str) -> None:
        if self.widget is not None:
            self.widget.value = stream_html(text, status=self.status_text)
        else:
            from IPython.display import HTML

            self.handle.update(HTML(stream_html(text, status=self.status_text)))

    def on_delta(self, delta: str) -> None:
        self.throttle.add(delta)

    def finish(self, final=None) -> None:
        """Stop streaming; replace the text with ``final`` (a displayable), or keep the text."""
        self.throttle.flush()
        if final is None:
            return self._show_done()
        if self.handle is not None:
            self.handle.update(final)

    def _show_done(self) -> None:
        if self.widget is not None:
            self.widget.value = stream_html(self.text, done=True)
        elif self.handle is not None:
            from IPython.display import HTML

            self.handle.update(HTML(stream_html(self.text, done=True)))

    @property
    def text(self) -> str:
        return self.throttle.text


class TextStream:
    """Terminal IPython: print tokens as they come (the terminal does its own buffering)."""

    def __init__(self, write=None):
        import sys

        self.write = write or sys.stdout.write
        self.text = ""

    def status(self, text: str) -> None:
        self.write(text + "\n")

    def on_delta(self, delta: str) -> None:
        # a proposal streams its explanation only (the assistant keeps its JSON back); the diff follows
        self.text += delta
        self.write(delta)

    def finish(self, final=None) -> None:
        self.write("\n")
