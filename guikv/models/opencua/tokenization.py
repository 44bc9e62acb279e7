"""OpenCUA's tokenizer: Kimi-VL's tiktoken BPE, rebuilt from the checkpoint's own files (no remote code).

A ``PreTrainedTokenizer`` (slow, Python) around ``tiktoken.Encoding``, not a conversion to a fast ``tokenizers``
tokenizer: Kimi's pre-tokenizer regex uses class intersection (``[...&&[^\\p{Han}]]``), which tiktoken's regex engine
implements and the Oniguruma engine of ``tokenizers`` would have to match exactly — encoding through tiktoken itself
is exact by construction (it is what the checkpoint's ``tokenization_opencua.TikTokenV3`` runs).

The rules are Kimi's ``TikTokenTokenizer`` (moonshotai Kimi ``tokenization_kimi.py``), which OpenCUA's reuses:
- ``tiktoken.model``: one ``base64(token bytes) rank`` per line; ranks 0..n-1 are the base vocabulary;
- every id in ``[n, n + 258)`` is a special token, named by ``tokenizer_config.json``'s ``added_tokens_decoder``
  (``<|reserved_token_{id}|>`` where it names none);
- special tokens written in the text are parsed as special tokens (``allowed_special="all"``);
- text is encoded in pieces of at most 400,000 characters, each split further so that no run of whitespace or of
  non-whitespace exceeds 25,000 characters (tiktoken's regex is slow or crashes on longer runs).
Token strings (``convert_ids_to_tokens``) are the GPT-2 byte-to-unicode spelling of each token's bytes, as Kimi's.
``decode(..., skip_special_tokens=True)`` drops every id of the special range; an id outside the vocabulary (the
model's embedding has spare rows) decodes to U+FFFD, or nothing when special tokens are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tokenizers import AddedToken
from transformers import PreTrainedTokenizer

VOCAB_FILE = "tiktoken.model"
CONFIG_FILE = "tokenizer_config.json"
NUM_SPECIAL_TOKENS = 256 + 2  # Kimi: num_reserved_special_tokens + 2
MAX_ENCODE_CHARS = 400_000
MAX_RUN_CHARS = 25_000
REPLACEMENT = "\ufffd".encode()

# Kimi's pre-tokenizer (tokenization_kimi.py ``pat_str``), verbatim.
PAT_STR = "|".join(
    [
        r"""[\p{Han}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


def read_bpe_ranks(path: str | Path) -> dict[bytes, int]:
    """The ``tiktoken.model`` ranks, validated: unique tokens, ranks exactly 0..n-1.

    (Not ``tiktoken.load.load_tiktoken_bpe``: it caches files by path in a temp folder, so a changed file at the same
    path would be read stale.)
    """
    path = Path(path)
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError("expected two fields")
            token, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"{path} line {number}: expected 'base64-token rank', got {line[:80]!r}") from exc
        if not token or token in ranks:
            raise ValueError(f"{path} line {number}: token {token!r} is empty or listed twice")
        ranks[token] = rank
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"{path}: ranks must be exactly 0..{len(ranks) - 1} (each once), as tiktoken files are")
    return ranks


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the spelling of byte-level token strings)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def split_long_runs(text: str) -> Iterator[str]:
    """Kimi's chunking: pieces of <= 400k characters without a whitespace / non-whitespace run over 25k."""
    for start in range(0, len(text), MAX_ENCODE_CHARS):
        piece = text[start : start + MAX_ENCODE_CHARS]
        run, run_is_space, slice_start = 0, piece[:1].isspace(), 0
        for i, char in enumerate(piece):
            is_space = char.isspace()
            if is_space != run_is_space:
                run, run_is_space = 1, is_space
            else:
                run += 1
                if run > MAX_RUN_CHARS:
                    yield piece[slice_start:i]
                    slice_start, run = i, 1
        yield piece[slice_start:]


class OpenCUATokenizer(PreTrainedTokenizer):
    """See the module docstring. Build it from a checkpoint folder with ``OpenCUATokenizer.from_folder``."""

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str,
        bos_token: str | None = "[BOS]",
        eos_token: str | None = "[EOS]",
        unk_token: str | None = None,
        pad_token: str | None = None,
        added_tokens_decoder: dict[Any, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        import tiktoken

        self.vocab_file = str(vocab_file)
        ranks = read_bpe_ranks(vocab_file)
        self._ranks = ranks  # kept: save_vocabulary writes them (the source file may be gone by then)
        self.num_base_tokens = len(ranks)
        names = _special_names(added_tokens_decoder or {}, self.num_base_tokens)
        self.special_tokens = {names.get(i, f"<|reserved_token_{i}|>"): i for i in self._special_range()}
        if len(self.special_tokens) != NUM_SPECIAL_TOKENS:
            raise ValueError(f"{CONFIG_FILE}: added_tokens_decoder gives two special ids the same name")
        self._encoding = tiktoken.Encoding(
            name=Path(vocab_file).name, pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=self.special_tokens
        )
        spell = bytes_to_unicode()
        self._id_to_token = {rank: "".join(spell[b] for b in token) for token, rank in ranks.items()}
        self._id_to_token.update({i: name for name, i in self.special_tokens.items()})
        self._token_to_id = {token: i for i, token in self._id_to_token.items()}
        if len(self._token_to_id) != len(self._id_to_token):
            raise ValueError(f"{vocab_file}: a special token's name spells a base token; the vocabulary is ambiguous")
        self._special_ids = frozenset(self.special_tokens.values())
        for role, token in (("bos", bos_token), ("eos", eos_token), ("unk", unk_token), ("pad", pad_token)):
            if token is not None and str(token) not in self.special_tokens:
                raise ValueError(f"{CONFIG_FILE}: {role}_token {str(token)!r} is not one of the special tokens")
        decoder = {
            i: AddedToken(name, special=True, normalized=False, lstrip=False, rstrip=False)
            for name, i in self.special_tokens.items()
        }
        super().__init__(
            bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, pad_token=pad_token,
            added_tokens_decoder=decoder, **kwargs,
        )

    def _special_range(self) -> range:
        return range(self.num_base_tokens, self.num_base_tokens + NUM_SPECIAL_TOKENS)

    # -- loading ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | Path) -> OpenCUATokenizer:
        """The tokenizer of a checkpoint folder: ``tiktoken.model`` + ``tokenizer_config.json`` (+ chat template)."""
        folder = Path(folder)
        vocab, config_file = folder / VOCAB_FILE, folder / CONFIG_FILE
        for needed in (vocab, config_file):
            if not needed.is_file():
                raise FileNotFoundError(f"{folder} has no {needed.name}: it is not an OpenCUA checkpoint folder")
        try:
            config = json.loads(config_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{config_file} is not valid JSON ({exc})") from exc
        if not isinstance(config, dict):
            raise ValueError(f"{config_file} must hold a JSON object")
        roles = ("bos_token", "eos_token", "unk_token", "pad_token")
        options: dict[str, Any] = {key: _token_text(config.get(key), key) for key in roles}
        options = {k: v for k, v in options.items() if v is not None or k in ("unk_token", "pad_token")}
        extra = config.get("additional_special_tokens") or config.get("extra_special_tokens") or []
        if isinstance(extra, dict):  # transformers 5 writes named extra tokens as an object
            extra = list(extra.values())
        if not isinstance(extra, list):
            raise ValueError(f"{config_file}: additional_special_tokens must be a list of token texts")
        if extra:
            options["extra_special_tokens"] = [_token_text(t, "additional_special_tokens") for t in extra]
        if isinstance(config.get("model_max_length"), int):
            options["model_max_length"] = config["model_max_length"]
        tokenizer = cls(
            vocab_file=str(vocab), added_tokens_decoder=config.get("added_tokens_decoder") or {},
            clean_up_tokenization_spaces=False, **options,
        )
        tokenizer.chat_template = chat_template(folder, config)
        tokenizer.name_or_path = str(folder)
        return tokenizer

    # -- encoding --------------------------------------------------------------------------------------------------
    def encode_text(self, text: str, allow_special: bool = True) -> list[int]:
        """Token ids of ``text`` exactly as the checkpoint's tokenizer gives them (no BOS/EOS added)."""
        if not isinstance(text, str):
            raise TypeError(f"expected text (str), got {type(text).__name__}")
        ids: list[int] = []
        for piece in split_long_runs(text):
            if allow_special:
                ids.extend(self._encoding.encode(piece, allowed_special="all"))
            else:
                ids.extend(self._encoding.encode(piece, disallowed_special=()))
        return ids

    def tokenize(self, text: str, **kwargs: Any) -> list[str]:
        split_special = kwargs.pop("split_special_tokens", self.split_special_tokens)
        return [self._id_to_token[i] for i in self.encode_text(text, allow_special=not split_special)]

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.tokenize(text, split_special_tokens=True)

    def _convert_token_to_id_with_added_voc(self, token: str) -> int | None:
        found = self._token_to_id.get(token)
        if found is None and self.unk_token is not None:
            found = self._token_to_id.get(str(self.unk_token))
        return found

    def _convert_token_to_id(self, token: str) -> int | None:
        return self._convert_token_to_id_with_added_voc(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self._id_to_token.get(index)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode([self._token_to_id[t] for t in tokens if t in self._token_to_id])

    # -- decoding --------------------------------------------------------------------------------------------------
    def _decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None, **kwargs: Any) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else [int(t) for t in token_ids]
        pieces: list[bytes] = []
        run: list[int] = []
        size = self.vocab_size
        for i in ids:
            if i < 0:
                raise ValueError(f"token id {i} is negative")
            if i >= size or (skip_special_tokens and i in self._special_ids):
                if i >= size and not skip_special_tokens:
                    pieces.append(self._encoding.decode_bytes(run))
                    pieces.append(REPLACEMENT)
                    run = []
                continue
            run.append(i)
        pieces.append(self._encoding.decode_bytes(run))
        return b"".join(pieces).decode("utf-8", errors="replace")

    # -- vocabulary ------------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.num_base_tokens + NUM_SPECIAL_TOKENS

    def get_vocab(self) -> dict[str, int]:
        return dict(self._token_to_id)

    def __len__(self) -> int:
        return self.vocab_size

    def is_special_id(self, token_id: int) -> bool:
        return token_id in self._special_ids

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        target = Path(save_directory) / ((filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE)
        ordered = sorted(self._ranks.items(), key=lambda kv: kv[1])
        lines = [f"{base64.b64encode(token).decode()} {rank}" for token, rank in ordered]
        target.write_text("\n".join(lines) + "\n")
        return (str(target),)


def _special_names(added_tokens_decoder: dict[Any, Any], num_base: int) -> dict[int, str]:
    """``added_tokens_decoder`` (id -> AddedToken / {"content": ...} / str) as id -> name, checked against the range."""
    if not isinstance(added_tokens_decoder, dict):
        raise ValueError(f"{CONFIG_FILE}: added_tokens_decoder must be an object of id -> token")
    names: dict[int, str] = {}
    for key, token in added_tokens_decoder.items():
        try:
            token_id = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"{CONFIG_FILE}: added_tokens_decoder key {key!r} is not a token id") from None
        if not num_base <= token_id < num_base + NUM_SPECIAL_TOKENS:
            raise ValueError(
                f"{CONFIG_FILE}: added token id {token_id} is outside the special range [{num_base}, "
                f"{num_base + NUM_SPECIAL_TOKENS}) that {VOCAB_FILE} ({num_base} base tokens) leaves"
            )
        names[token_id] = _token_text(token, f"added_tokens_decoder[{key}]")
    return names


def _token_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, AddedToken):
        value = value.content
    elif isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{CONFIG_FILE}: {where} must be a token text, got {value!r}")
    return value


def chat_template(folder: Path, config: dict[str, Any]) -> str | None:
    """The checkpoint's chat template: ``chat_template.jinja`` (as transformers reads it first), else the
    ``tokenizer_config.json`` entry, else ``chat_template.json``; a named list picks its ``default``."""
    jinja, json_file = folder / "chat_template.jinja", folder / "chat_template.json"
    if jinja.is_file():
        return jinja.read_text()
    template = config.get("chat_template")
    if template is None and json_file.is_file():
        template = json.loads(json_file.read_text()).get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    if template is not None and not isinstance(template, str):
        raise ValueError(f"{folder}: the chat template must be a string (or a list with a 'default' entry)")
    return template
