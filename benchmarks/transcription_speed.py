"""Where a voice note's time goes, and what each decoding setting costs in accuracy: one run, side by side.

    .venv/bin/python benchmarks/transcription_speed.py [--clips DIR] [--repeat 5] [--cer-clips 12]
        [--configs default,beam1,no-fallback,no-timestamps,no-vad,threads1,batched] [--openai]

Notes: a 6 s note (one dev clip) and a 30 s note (dev clips joined, re-encoded as Telegram Ogg/Opus). For each
decoding configuration of the faster-whisper backend (model loaded once per configuration, before timing), the
median of ``--repeat`` transcriptions of each note is printed with the ratio to the default, and the CER over the
first ``--cer-clips`` dev clips and the two notes (so a faster setting that costs accuracy shows it).

"Routed" adds what the voice pipeline does after the transcript: ``CaseService.attach_transcript`` (triage with
the real default classifier, routing, outbox rows) on a SQLite database with the sample county, median of the
same repeats. The Telegram send of the card is not included (it waits for the network).

``--openai`` also times the openai-whisper backend (same weights, torch) on the same notes, in the same run,
so the README quotes a ratio measured side by side. The load average is printed before and after: on a shared
machine the absolute times are inflated and only the ratios compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.transcription import default_clips, load_manifest  # noqa: E402

#: name -> FasterWhisperTranscriber settings over the defaults
CONFIGS: dict[str, dict] = {
    "default": {},
    "beam1": {"beam_size": 1},
    "beam3": {"beam_size": 3},
    "no-fallback": {"temperature": (0.0,)},
    "no-timestamps": {"without_timestamps": True},
    "no-vad": {"vad": False},
    "threads1": {"cpu_threads": 1},
    "batched": {"batch_size": 8},
    "beam1+no-timestamps": {"beam_size": 1, "without_timestamps": True},
}


def ogg_opus(samples: np.ndarray) -> bytes:
    """16 kHz mono float samples -> Ogg/Opus at 48 kHz, 24 kb/s (what Telegram voice notes are)."""
    import io

    import av

    up = np.interp(np.arange(samples.size * 3) / 3, np.arange(samples.size), samples).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.bit_rate = 24000
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(up.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def make_notes(clips: Path) -> dict[str, tuple[bytes, str]]:
    """{"6 s": (ogg, reference), "30 s": (ogg, reference)} from the dev clips."""
    from transcription.audio import decode_audio

    rows = [r for r in load_manifest(clips) if r.get("text")]
    first = rows[0]
    short = (clips / first["file"]).read_bytes()
    parts, texts, total = [], [], 0.0
    for row in rows:
        samples = decode_audio((clips / row["file"]).read_bytes())
        parts += [samples, np.zeros(8000, dtype=np.float32)]  # half a second between sentences
        texts.append(row["text"])
        total += samples.size / 16000 + 0.5
        if total >= 30.0:
            break
    return {"6 s": (short, first["text"]), "30 s": (ogg_opus(np.concatenate(parts)), " ".join(texts))}


def routing_service() -> tuple[object, int]:
    """A CaseService on a fresh SQLite file with the sample county, and a liaison worker's id."""
    from runtime.config import load_config
    from runtime.wiring import build_services
    from storage.models import Person
    from storage.orgtree import SAMPLE_DIR, import_org_dir

    tmp = tempfile.mkdtemp(prefix="lianhu-speed-")
    config = load_config(None, env={"LIANHU_DATABASE_URL": f"sqlite:///{tmp}/bench.db"})
    services = build_services(config)
    with services.db.session() as s:
        import_org_dir(s, SAMPLE_DIR)
        worker = s.query(Person).filter_by(code="P1111").one().id
    return services.case_service, worker


def time_routing(cases: object, worker: int, text: str, repeat: int) -> float:
    from workflows.cases import AudioIn

    times = []
    for i in range(repeat):
        view = cases.file_report(worker, audio=AudioIn(content=b"OggS" + bytes([i]), mime_type="audio/ogg"))
        t0 = time.perf_counter()
        cases.attach_transcript(view.id, text, model="bench", language="zh")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_config(name: str, options: dict, notes: dict, clips: Path, cer_rows: list[dict], repeat: int) -> dict:
    from transcription.metrics import cer

    if name == "openai":
        from transcription.backends.openai_whisper import OpenAIWhisperTranscriber as cls

        options = {}
    else:
        from transcription.backends.faster_whisper import FasterWhisperTranscriber as cls
    transcriber = cls(**options)
    t0 = time.perf_counter()
    transcriber.warm_up()
    out: dict = {"load_s": time.perf_counter() - t0}
    for label, (data, ref) in notes.items():
        times, text = [], ""
        for _ in range(repeat):
            t0 = time.perf_counter()
            text = transcriber.transcribe(data, "zh").text
            times.append(time.perf_counter() - t0)
        out[label] = statistics.median(times)
        out[f"{label} cer"] = cer(ref, text)
    scores = [
        cer(r["text"], transcriber.transcribe((clips / r["file"]).read_bytes(), "zh").text) for r in cer_rows
    ]
    out["cer"] = statistics.fmean(scores) if scores else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips", type=Path, default=None, help="folder with manifest.jsonl (default: dev clips)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cer-clips", type=int, default=12, help="dev clips scored per configuration")
    parser.add_argument("--configs", default="default,beam1,no-fallback,no-timestamps,no-vad,batched")
    parser.add_argument("--openai", action="store_true", help="also time openai-whisper on the same notes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    clips = args.clips or default_clips()
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    if bad := [c for c in names if c not in CONFIGS]:
        parser.error(f"unknown config(s) {bad}; choose from {', '.join(CONFIGS)}")
    if args.openai:
        names.append("openai")
    load = os.getloadavg()
    print(
        f"clips: {clips}  repeat: {args.repeat}  cpu: {os.cpu_count()}  "
        f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n"
    )
    notes = make_notes(clips)
    cer_rows = [r for r in load_manifest(clips) if r.get("text")][: args.cer_clips]
    cases, worker = routing_service()
    route_s = time_routing(cases, worker, notes["30 s"][1], max(3, args.repeat))
    results = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_config(name, CONFIGS.get(name, {}), notes, clips, cer_rows, args.repeat)
    base = results.get("default") or next(iter(results.values()))
    header = (
        f"{'config':<22} {'load s':>6} {'6 s note':>8} {'×':>5} {'30 s note':>9} {'×':>5} "
        f"{'routed 6/30 s':>14} {'CER clips':>9} {'CER notes':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<22} {r['load_s']:>6.1f} {r['6 s']:>8.2f} {r['6 s'] / base['6 s']:>5.2f} "
            f"{r['30 s']:>9.2f} {r['30 s'] / base['30 s']:>5.2f} "
            f"{r['6 s'] + route_s:>6.2f}/{r['30 s'] + route_s:>6.2f} {r['cer']:>9.3f} "
            f"{(r['6 s cer'] + r['30 s cer']) / 2:>9.3f}"
        )
    print(
        f"\nrouting after the transcript (attach_transcript: triage + routing + outbox, SQLite): {route_s:.3f} s"
    )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"route_s": route_s, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
