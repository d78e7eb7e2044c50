"""A small OpenAI-compatible server over a Hugging Face model, for tests (stdlib http.server).

It speaks the part of vLLM's API that the `openai_compatible` backend uses:

- `POST /v1/completions`: `prompt` (a string or a list), `max_tokens`, `temperature`, `top_p`,
  `seed`, `stop`, `stream` (with `stream_options.include_usage`), and `echo` + `logprobs` as
  vLLM answers them: every prompt token with `token_logprobs` (None for the first),
  `top_logprobs`, `tokens` (incrementally decoded text, special tokens as "") and `text_offset`
  (offsets into the echoed text, which is the prompt followed by the completion). With echo,
  `max_tokens` may be 0 or 1 (the greedy next token, from the same forward pass).
- `POST /v1/chat/completions`: `messages` through the tokenizer's chat template, then generation.
- `GET /v1/models`.

Test controls, not part of the API: `POST /_test/faults` with `fail_next` (answer that many
requests with HTTP `status`, default 503), `delay_next` + `delay_s` (sleep before answering) and
`no_echo` (refuse echo with HTTP 400, as servers without prompt logprobs do); `GET /_test/stats`
gives request counts per path and the peak number of requests in flight.

Run: `python tests/openai_test_server.py MODEL_DIR [--port 0]`. It prints
`listening on http://127.0.0.1:PORT` and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from gemma_benchmark.core.model_loader import HuggingFaceLoader, ModelWrapper


class ServerState:
    """The model, the injected faults and the counters, shared by the handler threads."""

    def __init__(self, wrapper: ModelWrapper, served_name: str) -> None:
        self.wrapper = wrapper
        self.served_name = served_name
        self.model_lock = threading.Lock()
        self.lock = threading.Lock()
        self.faults: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def enter(self, path: str) -> None:
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def take_fault(self) -> tuple[int | None, float]:
        """(HTTP status to fail with or None, seconds to sleep first)."""
        with self.lock:
            status, delay = None, 0.0
            if self.faults.get("fail_next", 0) > 0:
                self.faults["fail_next"] -= 1
                status = int(self.faults.get("status", 503))
            if self.faults.get("delay_next", 0) > 0:
                self.faults["delay_next"] -= 1
                delay = float(self.faults.get("delay_s", 1.0))
            return status, delay

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"counts": dict(self.counts), "peak_in_flight": self.peak_in_flight}


# -- model work --------------------------------------------------------------------------------


def decode_pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text as incremental detokenization gives it (vLLM's `tokens`): the growth
    of the decoded prefix, "" for special tokens and for bytes of an unfinished character."""
    pieces, previous = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(
            ids[:end], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        if text.endswith("\ufffd"):
            pieces.append("")
            continue
        pieces.append(text[len(previous) :])
        previous = text
    return pieces


def echo_choice(state: ServerState, prompt: str, top_k: int, max_tokens: int) -> dict[str, Any]:
    wrapper = state.wrapper
    ids = wrapper.encoder()(prompt)
    with state.model_lock, torch.no_grad():
        logits = wrapper.model(torch.tensor([ids], device=wrapper.device)).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)
    if max_tokens >= 1:
        ids = [*ids, int(logp[-1].argmax())]
    pieces = decode_pieces(wrapper.tokenizer, ids)
    offsets, position = [], 0
    for piece in pieces:
        offsets.append(position)
        position += len(piece)
    token_logprobs: list[float | None] = [None]
    top_logprobs: list[dict[str, float] | None] = [None]
    for index in range(1, len(ids)):
        row = logp[index - 1]
        token_logprobs.append(float(row[ids[index]]))
        best = [*torch.topk(row, top_k).indices.tolist(), ids[index]]
        top_logprobs.append({_piece(wrapper.tokenizer, t): float(row[t]) for t in best})
    return {
        "index": 0,
        "text": prompt + ("".join(pieces[-1:]) if max_tokens >= 1 else ""),
        "finish_reason": "length",
        "logprobs": {
            "tokens": pieces,
            "token_logprobs": token_logprobs,
            "top_logprobs": top_logprobs,
            "text_offset": offsets,
        },
    }


def _piece(tokenizer: Any, token_id: int) -> str:
    return str(tokenizer.decode([token_id], clean_up_tokenization_spaces=False))


def generate(state: ServerState, prompt: str, body: dict[str, Any]) -> tuple[str, str, int]:
    """(completion, finish_reason, completion tokens) for one prompt."""
    stop = body.get("stop") or []
    with state.model_lock:
        text = state.wrapper.generate_batch(
            [prompt],
            max_new_tokens=int(body.get("max_tokens") or 16),
            stop=[stop] if isinstance(stop, str) else list(stop),
            temperature=float(body.get("temperature") or 0.0),
            top_p=float(body.get("top_p") or 1.0),
            seed=body.get("seed"),
        )[0]
    tokens = len(state.wrapper.tokenizer.encode(text, add_special_tokens=False))
    finish = "length" if tokens >= int(body.get("max_tokens") or 16) else "stop"
    return text, finish, tokens


# -- HTTP --------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            model = {"id": self.state.served_name, "object": "model", "owned_by": "test"}
            self.send_json(200, {"object": "list", "data": [model]})
        elif self.path == "/_test/stats":
            self.send_json(200, self.state.stats())
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/_test/faults":
            with self.state.lock:
                self.state.faults = dict(body)
                self.state.counts = {}
                self.state.peak_in_flight = 0
            self.send_json(200, {"ok": True})
            return
        self.state.enter(self.path)
        try:
            self.answer(body)
        finally:
            self.state.leave()

    def answer(self, body: dict[str, Any]) -> None:
        status, delay = self.state.take_fault()
        if delay:
            time.sleep(delay)
        if status is not None:
            self.send_json(status, {"error": {"message": "injected failure", "code": status}})
        elif self.path == "/v1/completions":
            self.completions(body)
        elif self.path == "/v1/chat/completions":
            self.chat(body)
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def completions(self, body: dict[str, Any]) -> None:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if body.get("echo") and self.state.faults.get("no_echo"):
            self.send_json(400, {"error": {"message": "echo is not supported"}})
            return
        if body.get("echo"):
            if int(body.get("max_tokens", 16)) > 1:
                self.send_json(400, {"error": {"message": "test server: echo needs max_tokens<=1"}})
                return
            top_k, max_tokens = int(body.get("logprobs") or 1), int(body.get("max_tokens", 16))
            choices = [echo_choice(self.state, p, top_k, max_tokens) for p in prompts]
            for index, choice in enumerate(choices):
                choice["index"] = index
            self.send_json(200, self.envelope("text_completion", choices))
            return
        if body.get("stream"):
            self.stream(prompts[0], body)
            return
        choices, used = [], 0
        for index, prompt in enumerate(prompts):
            text, finish, tokens = generate(self.state, prompt, body)
            choices.append({"index": index, "text": text, "finish_reason": finish})
            used += tokens
        self.send_json(200, self.envelope("text_completion", choices, used))

    def chat(self, body: dict[str, Any]) -> None:
        tokenizer = self.state.wrapper.tokenizer
        prompt = tokenizer.apply_chat_template(
            body["messages"], tokenize=False, add_generation_prompt=True
        )
        text, finish, tokens = generate(self.state, prompt, body)
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        self.send_json(200, self.envelope("chat.completion", [choice], tokens))

    def stream(self, prompt: str, body: dict[str, Any]) -> None:
        text, finish, tokens = generate(self.state, prompt, body)
        ids = self.state.wrapper.tokenizer.encode(text, add_special_tokens=False)
        pieces = [p for p in decode_pieces(self.state.wrapper.tokenizer, ids) if p]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for piece in pieces:
            time.sleep(0.002)  # a gap between tokens, as a real server has
            self.event(self.envelope("text_completion", [self.delta(piece, None)]))
        self.event(self.envelope("text_completion", [self.delta("", finish)]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self.event(self.envelope("text_completion", [], tokens))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    @staticmethod
    def delta(text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}

    def event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def envelope(
        self, kind: str, choices: list[dict[str, Any]], completion_tokens: int = 0
    ) -> dict[str, Any]:
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": kind,
            "created": int(time.time()),
            "model": self.state.served_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": 0,
                "completion_tokens": completion_tokens,
                "total_tokens": completion_tokens,
            },
        }


def serve(model_dir: str, port: int, served_name: str) -> None:
    wrapper = HuggingFaceLoader().load_model(model_dir, name=served_name, device="cpu")
    Handler.state = ServerState(wrapper, served_name)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--served-name", default="tiny")
    args = parser.parse_args(argv)
    serve(args.model_dir, args.port, args.served_name)


if __name__ == "__main__":
    sys.exit(main())
