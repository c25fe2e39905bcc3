"""The multi-level guardrail: input screening, output moderation, filter-and-regenerate with feedback, fallback.

For every chat :meth:`GuardrailPipeline.run` returns a :class:`Decision`:

1. **input screening** — the guard checks the last user prompt; the policy's ``input`` rule gives the action:
   ``block`` answers with the fallback at once (no generation); ``caution``/``regenerate`` add the guard's
   verdict to the system message as guidance before the first answer; ``allow`` passes the chat unchanged.
2. **output moderation** — the guard checks (prompt, answer); the ``output`` rule gives the action.
3. **filter and regenerate** — on ``regenerate`` the answer is dropped and the generator is asked again, up to
   ``max_rounds`` times, with the guard's verdict (severity, categories) written into the system message as
   feedback (the flagged answer itself is not shown to the generator again).
4. **fallback** — ``block`` at the output level, or still unsafe after ``max_rounds``: a safe, helpful refusal
   (the policy's ``fallback`` text + per-category help).

``run_batch`` does the same for many chats, batching generation and guard checks round by round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from safealign.backends.base import Backend, GenerationParams, Messages
from safealign.guard.base import BaseGuard
from safealign.guard.decision import Decision, DecisionLog, GuardVerdict
from safealign.guard.messages import last_user_prompt, with_system_note
from safealign.guard.policy import Policy
from safealign.guard.streaming import GuardedStream


@dataclass
class _State:
    chat: Messages
    prompt: str
    image: Any
    v_in: GuardVerdict
    guided: bool = False
    round: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    decision: Optional[Decision] = None
    original: Messages = field(default_factory=list)


class GuardrailPipeline:
    def __init__(
        self,
        guard: BaseGuard,
        backend: Backend,
        policy: Optional[Policy] = None,
        max_rounds: Optional[int] = None,
        params: Optional[GenerationParams] = None,
        log_path: str | Path | None = None,
        screen_input: bool = True,
    ):
        self.guard = guard
        self.backend = backend
        self.policy = policy or Policy.default()
        self.max_rounds = self.policy.max_rounds if max_rounds is None else int(max_rounds)
        if self.max_rounds < 0:
            raise ValueError("max_rounds must be >= 0")
        self.params = params or GenerationParams()
        self.log = DecisionLog(log_path) if log_path else None
        self.screen_input = screen_input

    # -------------------------------------------------------------------------------------------- one chat
    def run(self, messages: Messages, image: Any = None, params: Optional[GenerationParams] = None) -> Decision:
        return self.run_batch([messages], [image], params)[0]

    def check_input(self, prompt: str, image: Any = None) -> tuple[GuardVerdict, str]:
        """(verdict, policy action) for a prompt alone: level 1 of the pipeline."""
        if not self.screen_input:
            return GuardVerdict(0.0, False, stage="skipped"), "allow"
        v = self.guard.classify(prompt, None, image)
        return v, self.policy.action_for(v, "input")

    # -------------------------------------------------------------------------------------------- many chats
    def run_batch(
        self,
        chats: Sequence[Messages],
        images: Optional[Sequence[Any]] = None,
        params: Optional[GenerationParams] = None,
        progress: Optional[Callable[[int], None]] = None,
    ) -> list[Decision]:
        t0 = time.perf_counter()
        params = params or self.params
        images = list(images) if images is not None else [None] * len(chats)
        prompts = [last_user_prompt(c) for c in chats]
        if self.screen_input:
            v_ins = self.guard.classify_batch([(p, None, im) for p, im in zip(prompts, images)])
        else:
            v_ins = [GuardVerdict(0.0, False, stage="skipped") for _ in prompts]
        states: list[_State] = []
        for chat, prompt, image, v_in in zip(chats, prompts, images, v_ins):
            st = _State(list(chat), prompt, image, v_in, original=list(chat))
            action = self.policy.action_for(v_in, "input") if self.screen_input else "allow"
            if action == "block":
                st.decision = self._fallback(
                    st, v_in, level="input", reason=f"input blocked: prompt is {v_in.describe()}"
                )
                if progress:
                    progress(1)
            elif action in ("caution", "regenerate"):
                st.chat = with_system_note(st.chat, self.policy.guidance_text(v_in))
                st.guided = True
            states.append(st)

        pending = [s for s in states if s.decision is None]
        while pending:
            outs = self.backend.generate(
                [s.chat for s in pending],
                params,
                images=[s.image for s in pending] if any(s.image is not None for s in pending) else None,
            )
            verdicts = self.guard.classify_batch([(s.prompt, o, s.image) for s, o in zip(pending, outs)])
            still: list[_State] = []
            for s, out, v in zip(pending, outs, verdicts):
                action = self.policy.action_for(v, "output")
                s.history.append({"round": s.round, "response": out, "verdict": v.to_dict(), "action": action})
                if action in ("allow", "caution"):
                    text = out if action == "allow" else (out.rstrip() + "\n\n" + self.policy.caution_text)
                    changed = action == "caution" or s.round > 0 or s.guided
                    why = [f"answer is {v.describe()}"]
                    if s.round:
                        why.append(f"accepted after {s.round} regeneration round(s)")
                    if s.guided:
                        why.append("generated with safety guidance (prompt was " + s.v_in.describe() + ")")
                    if action == "caution":
                        why.append("caution added")
                    s.decision = self._decision(
                        "transform" if changed else "allow", "; ".join(why), v, s, text, "output"
                    )
                elif action == "block":
                    s.decision = self._fallback(s, v, level="output", reason=f"answer blocked: {v.describe()}")
                elif s.round >= self.max_rounds:
                    s.decision = self._fallback(
                        s,
                        v,
                        level="fallback",
                        reason=f"still unsafe after {s.round} regeneration round(s): {v.describe()}",
                    )
                else:  # regenerate with the verdict as feedback
                    s.round += 1
                    base = (
                        with_system_note(s.original, self.policy.guidance_text(s.v_in))
                        if s.guided
                        else list(s.original)
                    )
                    s.chat = with_system_note(base, self.policy.feedback_text(v))
                    still.append(s)
                    continue
                if progress:
                    progress(1)
            pending = still

        elapsed = (time.perf_counter() - t0) * 1000
        decisions = []
        for s in states:
            assert s.decision is not None
            s.decision.latency_ms = elapsed
            decisions.append(s.decision)
            if self.log:
                self.log.write(s.decision, prompt=s.prompt)
        return decisions

    # -------------------------------------------------------------------------------------------- helpers
    def _scores(self, s: _State, v: Optional[GuardVerdict]) -> dict[str, Any]:
        sc: dict[str, Any] = {"input_unsafe_prob": round(float(s.v_in.unsafe_prob), 6), "input_stage": s.v_in.stage}
        if v is not None and s.history:
            sc["output_unsafe_prob"] = round(float(v.unsafe_prob), 6)
            sc["output_stage"] = v.stage
            sc["round_unsafe_probs"] = [h["verdict"]["unsafe_prob"] for h in s.history]
        return sc

    def _decision(self, action: str, reason: str, v: GuardVerdict, s: _State, text: str, level: str) -> Decision:
        sev_v = v if v.is_unsafe else s.v_in
        return Decision(
            action=action,  # type: ignore[arg-type]
            reason=reason,
            severity=sev_v.severity if sev_v.is_unsafe else "safe",
            categories=list(sev_v.categories) if sev_v.is_unsafe else [],
            scores=self._scores(s, v),
            rounds=s.round,
            response=text,
            level=level,
            history=s.history,
        )

    def _fallback(self, s: _State, v: GuardVerdict, level: str, reason: str) -> Decision:
        return Decision(
            action="block", reason=reason, severity=v.severity, categories=list(v.categories),
            scores=self._scores(s, v), rounds=s.round, response=self.policy.fallback_text(v), level=level,
            history=s.history,
        )

    # -------------------------------------------------------------------------------------------- streaming
    def stream(
        self, messages: Messages, params: Optional[GenerationParams] = None, check_every: int = 64
    ) -> GuardedStream:
        return GuardedStream(self, messages, params or self.params, check_every)
