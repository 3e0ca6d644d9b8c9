"""A scripted language model behind a real OpenAI-compatible HTTP endpoint on 127.0.0.1.

Tests queue the replies they want; the real `openai` SDK (and anything else that
speaks the chat-completions protocol) talks to it over loopback HTTP. Every
request body is recorded so tests can assert what left the process.

    llm = ScriptedLLM().start()
    llm.queue('{"explanation": "…", "edits": []}')
    llm.queue(status=429)                # one rate-limited answer, then …
    llm.queue("ok", chunk_delay=0.05)    # … a slow stream
    llm.queue(status=429, retry_after="1")  # fault modes: reset_after, endless, keepalive_only, raw_body

Besides chat completions it answers the legacy ``/completions`` (prompt + optional
``suffix``) and llama.cpp's ``/infill`` from a queue of their own
(``llm.queue_completion("…")``), so inline completions never take a chat's reply;
``streams`` records how far each streamed answer got, so a test can see that a
cancelled stream really stopped.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay: float = 0.0  # before the first byte
    chunk_delay: float = 0.0  # between streamed chunks
    chunk_size: int = 8
    drop_after: int | None = None  # close the connection after this many chunks
    reset_after: int | None = None  # reset the connection (TCP RST, as a crashed proxy does) after this many chunks
    endless: bool = False  # stream the content's chunks forever, never finishing
    keepalive_only: bool = False  # send only SSE comments (": keepalive"), forever
    retry_after: str | None = None  # a Retry-After header on a non-200 answer
    raw_body: bytes | None = None  # a 200 stream whose body is exactly these bytes (deep JSON, bad UTF-8 …)
    error_after: int | None = None  # send an error event (as some servers do mid-stream) after this many chunks
    finish_reason: str = "stop"
    tool_call: bool = False  # answer as a tool call instead of message content
    alternatives: tuple = ()  # /completions with n > 1: the texts of choices 1, 2, … (else the content again)
    for_prompt_ending: str | None = None  # /completions: only for a request whose prompt ends so (not a speculation)


class ScriptedLLM:
    def __init__(self, models=("scripted-model",), default: str | None = None):
        self.models = list(models)
        self.default = default
        self.replies: deque[Reply] = deque()
        self.completion_replies: deque[Reply] = deque()  # for /completions and /infill
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # ends endless streams when the server stops
        self.httpd: ThreadingHTTPServer | None = None
        self.streams: list[dict] = []  # per streamed answer: path, total and sent chunks, completed, ended
        self.chat_streams: list[dict] = []  # the same for streamed chat answers
        self.accepts_suffix = True  # False: /completions with a suffix answers 400, as many servers do
        self.has_completions = True  # False: /completions answers 404 (a chat-only server)
        self.has_infill = True  # False: /infill answers 501, as llama.cpp does for a model without FIM tokens

    # -- scripting -------------------------------------------------------
    def queue(self, content="", **kw) -> "ScriptedLLM":
        if not isinstance(content, str):
            content = json.dumps(content)
        with self.lock:
            self.replies.append(Reply(content=content, **kw))
        return self

    def queue_completion(self, content="", **kw) -> "ScriptedLLM":
        """Queue a reply for ``/completions`` or ``/infill`` (inline completion), apart from chat replies."""
        with self.lock:
            self.completion_replies.append(Reply(content=content, **kw))
        return self

    def next_completion_reply(self, prompt: str = "") -> Reply:
        """The first queued reply meant for ``prompt`` (``for_prompt_ending``), or meant for any request."""
        with self.lock:
            for reply in self.completion_replies:
                if reply.for_prompt_ending is None or prompt.endswith(reply.for_prompt_ending):
                    self.completion_replies.remove(reply)
                    return reply
        if self.default is not None:
            return Reply(content=self.default)
        return Reply(status=500, content="scripted model has no completion reply queued")

    def next_reply(self) -> Reply:
        with self.lock:
            if self.replies:
                return self.replies.popleft()
        if self.default is not None:
            return Reply(content=self.default)
        return Reply(status=500, content="scripted model has no reply queued")

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def all_request_text(self) -> str:
        return "\n".join(json.dumps(r) for r in self.requests)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "ScriptedLLM":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    body = {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "tests"} for m in owner.models]}
                    return self._json(200, body)
                self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner.lock:
                    owner.requests.append(body)
                is_messages = self.path.rstrip("/").endswith("/messages")
                route = self.path.rstrip("/")
                if route.endswith("/infill") or (route.endswith("/completions") and not route.endswith("/chat/completions")):
                    return self._legacy(route, body)
                if not (is_messages or self.path.rstrip("/").endswith("/chat/completions")):
                    return self._json(404, {"error": {"message": "not found"}})
                reply = owner.next_reply()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
                    return self._json(reply.status, {"error": {"message": reply.content or f"status {reply.status}", "type": "scripted"}},
                                      headers)
                if reply.raw_body is not None:
                    return self._raw_stream(reply.raw_body)
                if reply.keepalive_only or reply.endless:
                    return self._forever(body, reply)
                if is_messages:
                    return self._anthropic_stream(body, reply)
                if body.get("stream"):
                    return self._stream(body, reply)
                self._json(200, owner._completion(body, reply))

            def _anthropic_stream(self, body, reply: Reply):
                """Anthropic's Messages API event stream; a forced tool call streams its input as JSON."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                tool = bool(body.get("tools"))
                usage = owner._usage(body, reply)

                def event(kind, data):
                    self.wfile.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode())
                    self.wfile.flush()

                event("message_start", {"message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                                    "model": body.get("model", ""), "stop_reason": None, "stop_sequence": None,
                                                    "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": 0}}})
                block = ({"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {}} if tool
                         else {"type": "text", "text": ""})
                event("content_block_start", {"index": 0, "content_block": block})
                text = reply.content
                for i in range(0, len(text), reply.chunk_size):
                    piece = text[i: i + reply.chunk_size]
                    delta = {"type": "input_json_delta", "partial_json": piece} if tool else {"type": "text_delta", "text": piece}
                    event("content_block_delta", {"index": 0, "delta": delta})
                event("content_block_stop", {"index": 0})
                event("message_delta", {"delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": usage["completion_tokens"]}})
                event("message_stop", {})

            def _raw_stream(self, data: bytes):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def _forever(self, body, reply: Reply):
                """An endless stream of chunks, or of keepalive comments only, until the client goes away."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                piece = reply.content or "more "
                try:
                    while not owner.stopping.is_set():
                        if reply.keepalive_only:
                            self.wfile.write(b": keepalive\n\n")
                            self.wfile.flush()
                        else:
                            self._event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                                         "model": body.get("model", ""),
                                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                        time.sleep(reply.chunk_delay or 0.01)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client gave up, as it should
                self.close_connection = True

            def _legacy(self, route: str, body: dict):
                """``/completions`` (OpenAI's legacy text completions) and llama.cpp's ``/infill``."""
                infill = route.endswith("/infill")
                if infill and not owner.has_infill:
                    return self._json(501, {"error": {"code": 501, "message": "Infill is not supported by this model",
                                                      "type": "not_supported_error"}})
                if not infill and not owner.has_completions:
                    return self._json(404, {"error": {"message": "not found"}})
                if not infill and "suffix" in body and not owner.accepts_suffix:
                    return self._json(400, {"error": {"message": "suffix is not supported", "type": "invalid_request_error"}})
                reply = owner.next_completion_reply(body.get("input_prefix" if infill else "prompt") or "")
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    return self._json(reply.status, {"error": {"message": reply.content or f"status {reply.status}"}})
                text = reply.content
                pieces = [text[i: i + reply.chunk_size] for i in range(0, len(text), reply.chunk_size)] or [""]
                n = body.get("n") or 1 if not infill else 1
                others = [reply.alternatives[k] if k < len(reply.alternatives) else text for k in range(n - 1)]
                other_pieces = [[t[i: i + reply.chunk_size] for i in range(0, len(t), reply.chunk_size)] for t in others]
                record = owner._record(owner.streams, route, len(pieces))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for step in range(max([len(pieces)] + [len(p) for p in other_pieces])):
                        piece = pieces[step] if step < len(pieces) else ""
                        if infill:
                            self._event({"content": piece, "stop": False})
                        else:
                            # with n > 1 the choices interleave, as OpenAI-compatible servers send them
                            for index, chunks in enumerate([pieces, *other_pieces]):
                                if step < len(chunks):
                                    self._event({"id": "cmpl-1", "object": "text_completion", "created": 0,
                                                 "model": body.get("model", ""),
                                                 "choices": [{"index": index, "text": chunks[step], "finish_reason": None}]})
                        record["sent"] += 1
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    if infill:
                        self._event({"content": "", "stop": True})
                    else:
                        self._event({"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model", ""),
                                     "choices": [{"index": 0, "text": "", "finish_reason": reply.finish_reason}]})
                        self.wfile.write(b"data: [DONE]\n\n")
                        self.wfile.flush()
                    record["completed"] = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled the stream: stop "generating"
                finally:
                    record["ended"] = True

            def _json(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body, reply: Reply):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                text = reply.content
                pieces = [text[i : i + reply.chunk_size] for i in range(0, len(text), reply.chunk_size)] or [""]
                record = owner._record(owner.chat_streams, "/chat/completions", len(pieces))
                try:
                    for n, piece in enumerate(pieces):
                        if reply.drop_after is not None and n >= reply.drop_after:
                            self.close_connection = True
                            return
                        if reply.reset_after is not None and n >= reply.reset_after:
                            # SO_LINGER 0: close() sends RST instead of FIN
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            self.connection.close()
                            self.close_connection = True
                            return
                        if reply.error_after is not None and n >= reply.error_after:
                            self._event({"error": {"message": "the model ran out of memory", "type": "server_error"}})
                            return
                        if reply.tool_call:
                            delta = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                     "function": {"name": "propose_edits" if n == 0 else None, "arguments": piece}}]}
                            if n:
                                delta["tool_calls"][0].pop("id")
                                delta["tool_calls"][0]["function"].pop("name")
                        else:
                            delta = {"content": piece}
                        self._event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                                     "model": body.get("model", ""), "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                        record["sent"] += 1
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    self._event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", ""),
                                 "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
                                 "usage": owner._usage(body, reply)})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    record["completed"] = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled the stream
                finally:
                    record["ended"] = True

            def _event(self, obj):
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stopping.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    # -- bodies ----------------------------------------------------------
    def _record(self, streams: list, path: str, total: int) -> dict:
        """A new entry of ``streams``: how far this streamed answer got."""
        record = {"path": path, "total": total, "sent": 0, "completed": False, "ended": False}
        with self.lock:
            streams.append(record)
        return record

    @staticmethod
    def _usage(body, reply: Reply) -> dict:
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
        completion = max(1, len(reply.content) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body, reply: Reply) -> dict:
        if reply.tool_call:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "propose_edits", "arguments": reply.content}}]}
        else:
            message = {"role": "assistant", "content": reply.content}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                "usage": self._usage(body, reply)}
