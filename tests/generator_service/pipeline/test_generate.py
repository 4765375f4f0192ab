"""Our sampling loop against transformers' own generate(), windows, seeds, cancel, decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generator_service.config import GenerationConfig
from generator_service.errors import Cancelled, ConfigError
from generator_service.pipeline.generate import (
    PromptSpan,
    Window,
    _ramp_weights,
    decode_codes,
    encode_text,
    encode_texts,
    generate_codes,
    plan_windows,
    sample_window,
    steps_for,
    window_prompts,
)
from generator_service.progress import CancelToken


def _hf_codes(tiny, monkeypatch, **kwargs) -> torch.Tensor:
    """Codes transformers' generate() hands to EnCodec (captured on the way)."""
    seen = {}
    original = tiny.model.audio_encoder.decode

    def spy(codes, *args, **kw):
        seen["codes"] = codes.clone()
        return original(codes, *args, **kw)

    monkeypatch.setattr(tiny.model.audio_encoder, "decode", spy)
    with torch.no_grad():
        tiny.model.generate(do_sample=False, **kwargs)
    return seen["codes"][0]


@pytest.mark.parametrize("guidance,frames", [(3.0, 197), (1.0, 60)])
def test_greedy_matches_transformers_generate(tiny, monkeypatch, guidance: float, frames: int) -> None:
    """Greedy steps of our decoder (fp32) = transformers' generate(): 200 with CFG, 63 without."""
    cfg = GenerationConfig(prompt="calm piano", top_k=1, guidance_scale=guidance, variants=2)
    ours = generate_codes(tiny, frames, cfg)
    tok = tiny.tokenizer([cfg.prompt] * 2, return_tensors="pt", padding=True)
    ref = _hf_codes(tiny, monkeypatch, **tok, guidance_scale=guidance, max_new_tokens=frames + 3)
    assert ours.shape == ref.shape == (2, 4, frames)
    assert torch.equal(ours, ref)


def test_continuation_matches_transformers_audio_prompt(tiny, monkeypatch) -> None:
    """A window with context = transformers' generate() prompted with the same codes (200 steps, CFG)."""
    gen = torch.Generator().manual_seed(3)
    context = torch.randint(0, 2048, (1, 4, 20), generator=gen)
    cfg = GenerationConfig(prompt="drums", top_k=1, guidance_scale=3.0)
    with torch.inference_mode():
        hidden, mask = encode_text(tiny, cfg.prompt, 1, ("cond", "no_text"))
        session = tiny.packed().session(2, 20 + 197 + 4, hidden, mask)
        ours = sample_window(
            tiny,
            session.step,
            context,
            Window(0, 20, 197),
            cfg,
            [torch.Generator()],
            on_step=lambda: None,
            cancel=CancelToken(),
        )
    tok = tiny.tokenizer([cfg.prompt], return_tensors="pt")
    ref = _hf_codes(
        tiny, monkeypatch, **tok, decoder_input_ids=context.reshape(4, 20), guidance_scale=3.0, max_new_tokens=197 + 3
    )
    assert torch.equal(ours[:, :, :20], context)
    assert ref.shape == ours.shape == (1, 4, 217)
    assert torch.equal(ours, ref)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 20000), window=st.integers(2, 1500), ctx_frac=st.floats(0, 0.9))
def test_windows_cover_every_frame_once(total: int, window: int, ctx_frac: float) -> None:
    context = min(int(window * ctx_frac), window - 1)
    windows = plan_windows(total, window, context)
    assert sum(w.new for w in windows) == total
    made = 0
    for w in windows:
        assert w.context + w.new <= window and w.new >= 1
        assert w.start == made - w.context and w.start >= 0
        made += w.new


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 5000),
    window=st.integers(2, 400),
    ctx_frac=st.floats(0, 0.9),
    bounds=st.lists(st.integers(-5, 5005), max_size=12),
)
def test_windows_end_at_the_schedule_boundaries_and_never_cross_one(
    total: int, window: int, ctx_frac: float, bounds: list[int]
) -> None:
    context = min(int(window * ctx_frac), window - 1)
    windows = plan_windows(total, window, context, bounds)
    assert sum(w.new for w in windows) == total
    made = 0
    for w in windows:
        assert w.context + w.new <= window and w.new >= 1 and 0 <= w.context <= made
        assert w.start == made - w.context
        assert not any(made < b < made + w.new for b in bounds)  # the new frames lie in one span
        made += w.new
    inside = sorted({b for b in bounds if 0 < b < total})
    starts = {w.start + w.context for w in windows}
    assert set(inside) <= starts  # every boundary starts a window


def test_each_window_is_prompted_with_its_span() -> None:
    windows = plan_windows(100, 40, 10, [25, 70])
    assert [(w.start + w.context, w.new) for w in windows] == [(0, 25), (25, 30), (55, 15), (70, 30)]
    spans = [PromptSpan(0, "calm"), PromptSpan(25, "wild"), PromptSpan(70, "calm, slow")]
    assert window_prompts(windows, spans, "unused") == ["calm", "wild", "wild", "calm, slow"]
    assert window_prompts(windows, [], "one") == ["one"] * 4


def test_a_window_with_its_own_prompt_changes_only_that_window(tiny) -> None:
    """Two windows: the second one prompted otherwise differs from one prompt throughout, the first
    does not; the first prompted otherwise differs from the start (text reaches every window)."""
    cfg = GenerationConfig(prompt="rock", seed=3, window_s=0.6, context_s=0.2, top_k=1)
    plain = generate_codes(tiny, 55, cfg)
    second = generate_codes(tiny, 55, cfg, schedule=[PromptSpan(0, "rock"), PromptSpan(30, "calm flute")])
    first = generate_codes(tiny, 55, cfg, schedule=[PromptSpan(0, "calm flute"), PromptSpan(30, "rock")])
    assert torch.equal(second[..., :30], plain[..., :30]) and not torch.equal(second[..., 30:], plain[..., 30:])
    assert not torch.equal(first[..., :30], plain[..., :30])


def test_a_session_switches_text_in_place(tiny) -> None:
    """`set_text` of the same length writes the new keys/values into the same tensors (a captured
    CUDA graph keeps its addresses) and equals a session made with that text."""
    with torch.inference_mode():
        texts = encode_texts(tiny, ["rock", "a much longer prompt about a calm flute"], 1, ("cond", "no_text"))
        session = tiny.packed().session(2, 20, *texts["rock"])
        before = [t.data_ptr() for t in session.text_keys + session.text_values]
        session.set_text(*texts["a much longer prompt about a calm flute"])
        fresh = tiny.packed().session(2, 20, *texts["a much longer prompt about a calm flute"])
    assert [t.data_ptr() for t in session.text_keys + session.text_values] == before
    for ours, ref in zip(
        session.text_keys + session.text_values + [session.text_bias],
        fresh.text_keys + fresh.text_values + [fresh.text_bias],
        strict=True,
    ):
        assert torch.equal(ours, ref)


def test_window_plan_rejects_context_not_shorter_than_window() -> None:
    with pytest.raises(ConfigError, match="context_frames"):
        plan_windows(100, 10, 10)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_sampled_codes_are_identical_per_seed_across_runs(tiny, precision: str) -> None:
    from dataclasses import replace

    model = replace(tiny, precision=precision)
    cfg = GenerationConfig(prompt="rock", seed=11, variants=2, top_k=50)
    first = generate_codes(model, 40, cfg)
    assert torch.equal(generate_codes(model, 40, cfg), first)
    assert not torch.equal(first[0], first[1])  # the takes differ: each has its own seed


def test_same_seed_same_codes_and_take_i_uses_seed_plus_i(tiny) -> None:
    cfg = GenerationConfig(prompt="rock", seed=7, variants=2, window_s=0.6, context_s=0.2)
    a = generate_codes(tiny, 70, cfg)  # 3 windows: continuation included
    b = generate_codes(tiny, 70, cfg)
    assert torch.equal(a, b)
    single = generate_codes(tiny, 70, GenerationConfig(prompt="rock", seed=8, window_s=0.6, context_s=0.2))
    assert torch.equal(a[1], single[0])
    other = generate_codes(tiny, 70, GenerationConfig(prompt="rock", seed=9, window_s=0.6, context_s=0.2))
    assert not torch.equal(single, other)


def test_cancel_stops_within_one_generation_step(tiny) -> None:
    token, steps = CancelToken(), []

    def progress(phase: str, done: int, total: int) -> None:
        steps.append(done)
        if done == 5:
            token.cancel("test")

    with pytest.raises(Cancelled):
        generate_codes(tiny, 200, GenerationConfig(), progress=progress, cancel=token)
    assert steps[-1] == 5


def test_progress_counts_every_forward_pass(tiny) -> None:
    seen = []
    cfg = GenerationConfig(window_s=0.6, context_s=0.2)
    generate_codes(tiny, 70, cfg, progress=lambda p, d, t: seen.append((p, d, t)))
    total = steps_for(plan_windows(70, 30, 10), 4)
    assert seen[0] == ("generate", 0, total) and seen[-1] == ("generate", total, total)
    assert [d for _, d, _ in seen] == list(range(total + 1))


def test_window_longer_than_model_maximum_is_refused(tiny) -> None:
    with pytest.raises(ConfigError, match="exceeds the model maximum"):
        generate_codes(tiny, 10, GenerationConfig(window_s=45.0))


@pytest.mark.parametrize("n,fade", [(10, 3), (640 * 12, 640 * 5)])
def test_crossfade_ramps_sum_to_one(n: int, fade: int) -> None:
    out_ramp = _ramp_weights(n, 0, fade)[-fade:]
    in_ramp = _ramp_weights(n, fade, 0)[:fade]
    np.testing.assert_allclose(out_ramp + in_ramp, 1.0, atol=1e-6)


def test_chunked_decode_has_exact_length_and_matches_single_pass_away_from_seams(tiny) -> None:
    codes = torch.randint(0, 2048, (2, 4, 130), generator=torch.Generator().manual_seed(0))
    whole = decode_codes(tiny, codes, chunk_frames=1000, overlap_frames=5)
    chunked = decode_codes(tiny, codes, chunk_frames=50, overlap_frames=10)
    assert whole.shape == chunked.shape == (2, 130 * 640)
    assert np.isfinite(chunked).all()
    # The first chunk alone covers frames [0, 40) untouched by any crossfade.
    first = decode_codes(tiny, codes[:, :, :50], chunk_frames=50, overlap_frames=0)
    np.testing.assert_allclose(chunked[:, : 40 * 640], first[:, : 40 * 640], atol=1e-5)
