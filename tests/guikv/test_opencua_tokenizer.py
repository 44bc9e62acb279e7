"""OpenCUA's tokenizer from the checkpoint's own files: tiktoken's encoding exactly, Kimi's special-token rule, the template.

The reference is ``tiktoken.Encoding`` built here from the same ranks with Kimi's pre-tokenizer regex spelled out in
this file (copied from moonshotai's tokenization_kimi.py), so a changed regex in the module fails these tests.
"""

from __future__ import annotations

import json
import shutil

import pytest
import tiktoken

from guikv.loading import ModelLoadError
from guikv.models.opencua.loading import load
from guikv.models.opencua.tokenization import NUM_SPECIAL_TOKENS, OpenCUATokenizer, read_bpe_ranks, split_long_runs
from guikv.testing.opencua import OPENCUA_CHAT_TEMPLATE, save_tiny_opencua, special_ids

KIMI_PAT_STR = "|".join(
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

TEXTS = [
    "Click the 'Save' button at (1443, 343), then type hello world\n\n  and press Enter.",
    "<|im_user|>user<|im_middle|><|media_begin|>image<|media_content|><|media_placeholder|><|media_end|>Go<|im_end|>",
    "中文界面：点击设置按钮 then 확인 – ünïcödé, emoji 🙂, tabs\t\tand \r\n CRLF; it's we'll THEY'RE 1234567",
    "pyautogui.hotkey(['ctrl', 'c'])[EOS][BOS]<|reserved_token_3|> trailing   ",
    "",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_opencua(tmp_path_factory.mktemp("opencua-tok"))


@pytest.fixture(scope="module")
def tokenizer(folder):
    return OpenCUATokenizer.from_folder(folder)


@pytest.fixture(scope="module")
def reference(folder):
    ranks = read_bpe_ranks(folder / "tiktoken.model")
    decoder = json.loads((folder / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    names = {int(i): t["content"] for i, t in decoder.items()}
    n = len(ranks)
    specials = {names.get(i, f"<|reserved_token_{i}|>"): i for i in range(n, n + 258)}
    return tiktoken.Encoding(name="reference", pat_str=KIMI_PAT_STR, mergeable_ranks=ranks, special_tokens=specials)


@pytest.mark.parametrize("text", TEXTS)
def test_encoding_is_tiktokens_and_round_trips(tokenizer, reference, text):
    expected = reference.encode(text, allowed_special="all")
    assert tokenizer.encode_text(text) == expected
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == expected
    assert tokenizer.decode(expected) == text
    assert tokenizer.decode(expected, skip_special_tokens=True) == reference.decode(
        [i for i in expected if i < tokenizer.num_base_tokens]
    )


def test_special_ids_come_from_added_tokens_decoder(tokenizer):
    n = tokenizer.num_base_tokens
    for name, token_id in special_ids(n).items():
        assert tokenizer.convert_tokens_to_ids(name) == token_id
        assert tokenizer.encode_text(name) == [token_id]  # a special token in text is one special id
    # Every id of [n, n + 258) is special; unnamed ones follow Kimi's <|reserved_token_{id}|> rule.
    assert len(tokenizer) == tokenizer.vocab_size == n + NUM_SPECIAL_TOKENS
    assert tokenizer.convert_ids_to_tokens(n + 8) == f"<|reserved_token_{n + 8}|>"
    assert all(tokenizer.is_special_id(i) for i in range(n, n + NUM_SPECIAL_TOKENS))
    assert not tokenizer.is_special_id(n - 1)
    roles = (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token)
    assert roles == ("[BOS]", "[EOS]", "[PAD]", "[UNK]")
    assert tokenizer.eos_token_id == n + 1
    assert tokenizer.convert_tokens_to_ids("<|no_such_token|>") == tokenizer.unk_token_id


def test_special_text_can_be_split_when_asked(tokenizer, reference):
    text = "say <|im_end|> literally"
    assert tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] == reference.encode(
        text, disallowed_special=()
    )


def test_decode_tolerates_ids_outside_the_vocabulary(tokenizer):
    """The model's embedding has spare rows; an id past the tokenizer decodes to U+FFFD, never crashes a reply."""
    hello = tokenizer.encode_text("hello")
    beyond = len(tokenizer) + 3
    assert tokenizer.decode([*hello, beyond, *hello]) == "hello\ufffdhello"
    assert tokenizer.decode([*hello, beyond], skip_special_tokens=True) == "hello"
    with pytest.raises(ValueError, match="negative"):
        tokenizer.decode([-1])


def test_long_runs_are_split_like_kimi():
    """Kimi splits whitespace / non-whitespace runs over 25,000 characters (tiktoken's regex degrades on them)."""
    text = "a" * 60_000 + "  " + "b" * 10
    pieces = list(split_long_runs(text))
    assert "".join(pieces) == text
    assert [len(p) for p in pieces] == [25_000, 25_000, 10_000 + 2 + 10]


def test_long_text_encodes_and_round_trips(tokenizer):
    text = "x" * 30_000 + " end"
    ids = tokenizer.encode_text(text)
    assert tokenizer.decode(ids) == text


def test_chat_template_renders_append_only(folder):
    """Each longer conversation's rendering starts with the shorter one's (and with its generation prompt + reply)."""
    _, processor = load(str(folder))
    turns = [
        {"role": "system", "content": "You are a GUI agent."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Open settings"}]},
        {"role": "assistant", "content": "## Code:\npyautogui.click(x=1, y=2)"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Next"}]},
        {"role": "assistant", "content": "computer.terminate(status='success')"},
    ]
    assert processor.chat_template == OPENCUA_CHAT_TEMPLATE
    previous = ""
    for k in range(1, len(turns) + 1):
        text = processor.render(turns[:k], add_generation_prompt=False)
        assert text.startswith(previous)
        if turns[k - 1]["role"] == "assistant":
            prompt = processor.render(turns[: k - 1], add_generation_prompt=True)
            assert text == prompt + turns[k - 1]["content"] + "<|im_end|>"
        previous = text
    one = processor.render(turns[1:2])
    assert one.startswith("<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|>")
    assert "<|media_begin|>image<|media_content|><|media_placeholder|><|media_end|>Open settings<|im_end|>" in one
    assert one.endswith("<|im_assistant|>assistant<|im_middle|>")


def test_template_from_a_jinja_file_wins(tmp_path):
    folder = save_tiny_opencua(tmp_path / "m")
    (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert OpenCUATokenizer.from_folder(folder).chat_template.startswith("{% for m in messages %}")


def test_save_pretrained_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    again = OpenCUATokenizer.from_folder(tmp_path)
    for text in TEXTS:
        assert again.encode_text(text) == tokenizer.encode_text(text)
    assert again.special_tokens == tokenizer.special_tokens


# -- hostile files ---------------------------------------------------------------------------------------------------
def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def _edit_config(folder, change):
    path = folder / "tokenizer_config.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["added_tokens_decoder"].update({"3": {"content": "<|evil|>"}}), "outside the special range"),
        (lambda d: d["added_tokens_decoder"].update({"99999": {"content": "<|far|>"}}), "outside the special range"),
        (lambda d: d["added_tokens_decoder"].update({"x": {"content": "<|x|>"}}), "is not a token id"),
        (lambda d: d.update(eos_token="<|not_special|>"), "eos_token '<|not_special|>' is not one of the special tokens"),
        (lambda d: d.update(added_tokens_decoder=[1, 2]), "added_tokens_decoder must be an object"),
        (lambda d: d.update(additional_special_tokens="oops"), "must be a list"),
    ],
)
def test_hostile_tokenizer_config(folder, tmp_path, change, message):
    copy = _copy(folder, tmp_path)
    _edit_config(copy, change)
    with pytest.raises(ValueError, match=message):
        OpenCUATokenizer.from_folder(copy)


def test_duplicate_special_names(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    n = len(read_bpe_ranks(copy / "tiktoken.model"))
    _edit_config(copy, lambda d: d["added_tokens_decoder"].update({str(n + 8): {"content": "[EOS]"}}))
    with pytest.raises(ValueError, match="same name"):
        OpenCUATokenizer.from_folder(copy)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"QQ== 0\nQg== 2\n", "ranks must be exactly 0..1"),
        (b"QQ== 0\nQQ== 1\n", "listed twice"),
        (b"QQ== 0\nnot-base64! 1\n", "line 2: expected 'base64-token rank'"),
        (b"QQ==\n", "line 1"),
    ],
)
def test_hostile_tiktoken_file(tmp_path, content, message):
    path = tmp_path / "tiktoken.model"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_bpe_ranks(path)


def test_config_json_and_tokenizer_must_agree(folder, tmp_path):
    """A placeholder id in config.json that the tokenizer does not give <|media_placeholder|> stops the load."""
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["media_placeholder_token_id"] -= 1
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="the checkpoint's files disagree"):
        load(str(copy))


def test_missing_tokenizer_files(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    (copy / "tiktoken.model").unlink()
    with pytest.raises(ModelLoadError, match=r"has no tiktoken\.model"):
        load(str(copy))
