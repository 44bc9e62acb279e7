"""Read an OpenCUA checkpoint's safetensors into ``OpenCUAForConditionalGeneration``, strictly.

A folder holds ``model.safetensors`` or shards listed by ``model.safetensors.index.json`` (``weight_map``: name ->
shard file). Names may use any layout vLLM's ``OpenCUAForConditionalGeneration`` accepts (its ``hf_to_vllm_mapper``):
the checkpoint's own (``vision_tower.*``, ``language_model.model.*``, ``language_model.lm_head.*``), transformers 5's
Qwen2.5-VL (``model.visual.*``, ``model.language_model.*``, ``lm_head.*``) and 4.x's (``visual.*``, ``model.*``,
``lm_head.*``). Every name must map to exactly one parameter of the module, every parameter must be present (an
absent ``lm_head`` only when ``text_config.tie_word_embeddings``), shapes must match; otherwise ``ModelLoadError``
names the tensor and the file. Tensors are copied one at a time into the (uninitialised) module, converting dtype.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from guikv.models.loaders import ModelLoadError

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
LM_HEAD = "language_model.lm_head.weight"
EMBED = "language_model.model.embed_tokens.weight"

# (checkpoint prefix, module prefix), first match wins: the most specific prefixes come first.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("vision_tower.", "vision_tower."),
    ("language_model.", "language_model."),
    ("model.language_model.", "language_model.model."),
    ("model.visual.", "vision_tower."),
    ("visual.", "vision_tower."),
    ("lm_head.", "language_model.lm_head."),
    ("model.", "language_model.model."),
)
# Non-persistent buffers some exporters wrote into checkpoints; vLLM skips them too.
SKIPPED_SUFFIXES = ("rotary_emb.inv_freq", "rotary_pos_emb.inv_freq")


def module_name(checkpoint_name: str) -> str | None:
    """The module parameter a checkpoint tensor name maps to, ``None`` for a name in no accepted layout."""
    for old, new in PREFIXES:
        if checkpoint_name.startswith(old):
            return new + checkpoint_name[len(old) :]
    return None


def checkpoint_files(folder: str | Path) -> dict[str, Path]:
    """Tensor name -> safetensors file, from the index (sharded) or the single file's header."""
    folder = Path(folder)
    index = folder / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{index}: not a safetensors index (expected a JSON object with a 'weight_map')") from exc
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: 'weight_map' must be a non-empty object of tensor name -> shard file")
        files: dict[str, Path] = {}
        for name, shard in weight_map.items():
            if not isinstance(shard, str) or Path(shard).name != shard or not shard.endswith(".safetensors"):
                raise ModelLoadError(f"{index}: tensor {name!r} maps to {shard!r}, expected a .safetensors file in the folder")
            path = folder / shard
            if not path.is_file():
                raise ModelLoadError(f"{index}: shard {shard} (holding {name!r}) is missing from {folder}")
            files[name] = path
        return files
    single = folder / SINGLE_FILE
    if not single.is_file():
        raise ModelLoadError(f"{folder} has no {SINGLE_FILE} and no {INDEX_FILE}: the OpenCUA weights are missing")
    with _open(single) as handle:
        return dict.fromkeys(handle.keys(), single)


def _open(path: Path):
    """``safe_open`` with a damaged file reported as a ``ModelLoadError`` naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        return safe_open(str(path), framework="pt")
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_weights(model: nn.Module, folder: str | Path) -> None:
    """Copy the checkpoint's tensors into ``model`` (parameters and persistent buffers); strict, see the module doc."""
    files = checkpoint_files(folder)
    targets = dict(model.state_dict(keep_vars=True))
    tied = bool(getattr(model.config.text_config, "tie_word_embeddings", False))
    if tied:
        targets.pop(LM_HEAD, None)  # the same tensor as the embedding: filled through it
    plan: dict[Path, list[tuple[str, str]]] = {}
    seen: dict[str, str] = {}
    for name, path in files.items():
        if name.endswith(SKIPPED_SUFFIXES):
            continue
        target = module_name(name)
        if tied and target == LM_HEAD:
            continue
        if target is None or target not in targets:
            raise ModelLoadError(
                f"{path.name}: unexpected tensor {name!r} (no OpenCUA parameter {target or name!r}); the checkpoint is "
                "not an OpenCUA (Qwen2.5-VL vision tower + Qwen2 language model) of this config"
            )
        if target in seen:
            raise ModelLoadError(f"{path.name}: tensors {seen[target]!r} and {name!r} both map to parameter {target!r}")
        seen[target] = name
        plan.setdefault(path, []).append((name, target))
    missing = sorted(set(targets) - set(seen))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelLoadError(f"{folder}: the checkpoint lacks {len(missing)} OpenCUA tensor(s): {shown}")
    with torch.no_grad():
        for path, pairs in plan.items():
            with _open(path) as handle:
                present = set(handle.keys())
                for name, target in pairs:
                    if name not in present:
                        raise ModelLoadError(f"{INDEX_FILE} puts {name!r} in {path.name}, which does not hold it")
                    param = targets[target]
                    shape = tuple(handle.get_slice(name).get_shape())
                    if shape != tuple(param.shape):
                        raise ModelLoadError(
                            f"{path.name}: tensor {name!r} has shape {shape}, parameter {target!r} needs {tuple(param.shape)}"
                        )
                    param.copy_(handle.get_tensor(name))
    if tied:
        model.language_model.lm_head.weight = model.language_model.model.embed_tokens.weight
