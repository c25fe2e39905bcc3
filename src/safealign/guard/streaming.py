"""Streaming moderation: check a streamed answer every ``check_every`` characters and stop it when it turns unsafe.

Text is held back until the guard has seen it: a chunk is released only after a check of the whole answer so far
says it is acceptable, so an unsafe span is never sent before it is checked (at the cost of ``check_every``
characters of delay). When a check says ``regenerate`` or ``block``, the stream stops (the generator is closed)
and the policy's fallback is sent as a replacement; ``caution`` appends the caution line at the end.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Optional

from safealign.backends.base import GenerationParams, Messages
from safealign.guard.base import BaseGuard
from safealign.guard.decision import Decision, GuardVerdict
from safealign.guard.messages import last_user_prompt, with_system_note
from safealign.guard.policy import Policy


def moderate_stream(
    guard: BaseGuard,
    policy: Policy,
    prompt: str,
    chunks: Iterator[str],
    check_every: int = 64,
    state: Optional[dict[str, Any]] = None,
) -> Iterator[str]:
    """Yield the checked parts of ``chunks``; on an unsafe check yield a separator + fallback and stop.

    ``state`` (a dict, optional) receives ``verdict``, ``action``, ``stopped``, ``checks`` and ``text``.
    """
    st = state if state is not None else {}
    st.update(verdict=None, action="allow", stopped=False, checks=0, text="")
    sent, pending = "", ""
    caution = False

    def check(text: str) -> str:
        v = guard.classify(prompt, text)
        st["checks"] += 1
        st["verdict"] = v
        return policy.action_for(v, "output")

    try:
        for chunk in chunks:
            pending += chunk
            if len(pending) < check_every:
                continue
            action = check(sent + pending)
            if action in ("regenerate", "block"):
                st.update(action=action, stopped=True, text=sent)
                yield ("\n\n" if sent else "") + policy.fallback_text(st["verdict"])
                return
            caution = caution or action == "caution"
            sent += pending
            yield pending
            pending = ""
        if pending or not sent:
            action = check(sent + pending)
            if action in ("regenerate", "block"):
                st.update(action=action, stopped=True, text=sent)
                yield ("\n\n" if sent else "") + policy.fallback_text(st["verdict"])
                return
            caution = caution or action == "caution"
            sent += pending
            if pending:
                yield pending
        if caution:
            st["action"] = "caution"
            yield "\n\n" + policy.caution_text
        st["text"] = sent
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


class GuardedStream:
    """Iterate to get the guarded answer's text chunks; ``decision`` is set once the iteration ends."""

    def __init__(self, pipeline: Any, messages: Messages, params: GenerationParams, check_every: int = 64):
        self.pipeline = pipeline
        self.messages = messages
        self.params = params
        self.check_every = check_every
        self.decision: Optional[Decision] = None

    def __iter__(self) -> Iterator[str]:
        t0 = time.perf_counter()
        p = self.pipeline
        prompt = last_user_prompt(self.messages)
        v_in, action = p.check_input(prompt)
        scores = {"input_unsafe_prob": round(float(v_in.unsafe_prob), 6)}
        if action == "block":
            text = p.policy.fallback_text(v_in)
            self.decision = Decision(
                "block", f"input blocked: prompt is {v_in.describe()}", v_in.severity, list(v_in.categories), scores, 0,
                0.0, text, "input",
            )
            yield text
        else:
            chat = (
                with_system_note(self.messages, p.policy.guidance_text(v_in))
                if action in ("caution", "regenerate")
                else self.messages
            )
            st: dict[str, Any] = {}
            parts = []
            for piece in moderate_stream(
                p.guard, p.policy, prompt, p.backend.stream(chat, self.params), self.check_every, st
            ):
                parts.append(piece)
                yield piece
            v: Optional[GuardVerdict] = st.get("verdict")
            if v is not None:
                scores["output_unsafe_prob"] = round(float(v.unsafe_prob), 6)
            if st["stopped"]:
                assert v is not None
                self.decision = Decision(
                    "block", f"stream stopped after {len(st['text'])} chars: {v.describe()}", v.severity,
                    list(v.categories), scores, 0, 0.0, "".join(parts), "output",
                )
            else:
                changed = st["action"] == "caution" or action != "allow"
                ref = v if (v is not None and v.is_unsafe) else v_in
                self.decision = Decision(
                    "transform" if changed else "allow", f"streamed answer is {v.describe() if v else 'unchecked'}",
                    ref.severity if ref.is_unsafe else "safe", list(ref.categories) if ref.is_unsafe else [], scores, 0,
                    0.0, "".join(parts), "output",
                )
        self.decision.latency_ms = (time.perf_counter() - t0) * 1000
        if p.log:
            p.log.write(self.decision, prompt=prompt, stream=True)
