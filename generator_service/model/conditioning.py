"""The conditioning seam: how one decoder forward pass is run during generation.

Generation calls a `DecoderRunner` for every forward pass instead of the decoder directly. The
plain runner just runs MusicGen's decoder (text conditioning through its own cross-attention). The
Expotion visual adapter implements the same call and injects the visual condition: it is told where
the window starts in the clip (`window_start`, in codec frames) and the window position of the first
input token (`position`), so sequence position s of the window is tied to condition frame
`window_start + s`. With no adapter loaded the seam is a no-op.
"""

from __future__ import annotations

from typing import Any, Protocol


class DecoderRunner(Protocol):
    def __call__(
        self,
        input_ids: Any,
        *,
        window_start: int,
        position: int,
        encoder_hidden_states: Any,
        encoder_attention_mask: Any,
        cache: Any,
    ) -> tuple[Any, Any]:
        """Run the decoder on `input_ids` [B*K, t] whose first token is at window position
        `position`; return (logits [B*K, t, V], the updated cache)."""
        ...


class PlainDecoder:
    """The no-op seam: MusicGen's decoder as it is."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder

    def __call__(self, input_ids, *, window_start, position, encoder_hidden_states, encoder_attention_mask,
                 cache):
        out = self.decoder(
            input_ids=input_ids,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            use_cache=True,
        )
        return out.logits, out.cache
