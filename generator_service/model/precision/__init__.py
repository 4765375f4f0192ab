"""Precision: how the decoder's weights are rounded, how closely that follows fp32, and what `auto` picks.

It sits above the packed decoder (model/packed.py, which runs the formats of model/linear.py and
knows nothing of how its weights were chosen) and is called by the loader (model/loading.py):
- `choice.py`: `auto`'s choice of a concrete precision on a device, and its fallback;
- `quantize.py`: int8 rounding with its error compensated (GPTQ);
- `int8_cache.py`: the rounded weights kept on disk per set of weights;
- `parity.py`: the agreement with fp32 every reduced precision is measured by, and its floors;
- `packing.py`: packing a decoder at a precision: int8 through the cache or GPTQ, then its check,
  and under `auto` the fallback when the loaded weights fail it.

The precisions:
- `fp32`: fp32 weights, activations and KV cache (the parity reference: transformers' numbers).
- `bf16`: bf16 weights and matrix products (fp32 LM heads); bf16 KV cache on CUDA.
- `int8`: weight-only int8 (symmetric, one scale per output channel, rounded with GPTQ for the
  decoder layers) through `torch.ops.aten._weight_int8pack_mm`, with bf16 activations and bf16 LM
  heads; bf16 KV cache on CUDA.
- `auto` (the CLI's and the service's default): the fastest precision that passes the parity checks
  where it runs. On x86 CPUs with AVX2 or AVX-512 (with or without bf16 instructions) that is
  int8, as long as the loaded weights pass int8's check (below); otherwise, and on other CPUs
  (arm64: not measured), the fallback: bf16 on CUDA and on CPUs with bf16 instructions
  (avx512_bf16, AMX, arm64 bf16), fp32 elsewhere.

The parity checks (parity.py): teacher-forced argmax agreement with fp32 on fixed-seed random
codes and text, floors 0.99 (bf16) and 0.97 (int8). The tests assert them on musicgen-small's shape
with random weights: bf16 0.991; int8 0.976 with its weights rounded by GPTQ (rounding to nearest
gives 0.954, as its per-channel error of ~1 % of each output flips the argmax wherever the random
model's top two logits lie closer). Every int8 pack also measures its agreement on the weights it
was made from (a real checkpoint, an adapter's merged LoRA); under `auto` a pack below the floor is
replaced by the fallback with a warning, and the job's metadata says which. Its rounding costs
time once per set of weights (musicgen-small on 2 cores: 20.4 s on the AVX-512 bf16 CPU before the
check was added, 55-63 s with it on an AVX2 one; `bench generate`'s `pack_s`); the rounded weights
are then kept in the cache directory (int8_cache.py), so later loads read them (2.0 s).

Speed per decode step, musicgen-small shape, CFG batch 2, 2 threads: on the AVX-512 bf16 EPYC
int8 runs 1.6-1.9x faster than bf16 (end to end 1.10 vs 2.24 s per audio-second, fp32 7.90). On an
AVX2 EPYC without bf16 instructions (bf16 arithmetic emulated) fp32 252.7 ms, bf16 114.8 ms, int8
60.1 ms (median of 25 steps at position 100-125): weight-only kernels win by reading fewer bytes,
emulated or not. bf16's agreement there is 0.9896 (below its 0.99 floor: another accumulation
order), int8's 0.9745, so int8 is `auto`'s choice there too and bf16 is not its fallback.

Measured alternatives with rounding to nearest (same model and inputs, 2 threads, CFG batch 2,
median step): int8 with fp32 heads 0.957; int8 on the feed-forward weights only (attention
projections bf16) 0.965-0.973 at 39.6 ms per step against bf16's 49.8 and all-int8's 29.4;
MSE-optimal clipping of the int8 scales +0.005. On CUDA `auto` stays bf16: int8's kernel and
speed there are not measured.
"""
