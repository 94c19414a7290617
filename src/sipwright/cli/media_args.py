"""Media flags shared by ``sipwright call`` and ``sipwright answer``.

``--play FILE.wav|FILE.pcap``, ``--record FILE.wav``, ``--record-sent FILE.wav``,
``--codec pcma,pcmu``, ``--srtp off|optional|mandatory`` and ``--srtp-secure`` (as
pjsua's --use-srtp and --srtp-secure), ``--srtp-suites``, ``--no-media``; unreadable
files become one line and exit code 2 (:class:`UsageError`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sipwright.cli.common import UsageError
from sipwright.media.call_stats import MediaStats
from sipwright.media.codecs import SUPPORTED, codec_problem
from sipwright.media.errors import MediaError
from sipwright.media.pcap_source import PcapStream, read_pcap_rtp
from sipwright.media.sources import AudioSource, SamplesSource
from sipwright.media.srtp import SRTP_SUITES
from sipwright.media.wav import read_wav
from sipwright.ua import MediaOptions
from sipwright.ua.call_media import DEFAULT_SUITES, DTMF_MODES, SRTP_POLICIES

__all__ = ["add_media_arguments", "describe_media", "media_options", "numbered", "seconds"]


def seconds(text: str) -> float:
    """argparse type: a duration in seconds, 0 or more (one line and exit 2 if not)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"want seconds (0 or more), not {text!r}")
    return value


def _codecs(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"--codec takes {', '.join(SUPPORTED)}, not {text!r}")
    for name in names:
        problem = codec_problem(name)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"--codec: {problem}")
    # SDP spells them PCMU, PCMA, G722 and opus (RFC 3551 §6, RFC 7587 §7).
    return tuple(name.lower() if name.lower() == "opus" else name.upper() for name in names)


def _suites(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().upper() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in SRTP_SUITES]
    if not names or unknown:
        known = ", ".join(SRTP_SUITES)
        raise argparse.ArgumentTypeError(f"--srtp-suites: unknown {unknown or text!r}; {known}")
    return names


def add_media_arguments(parser: argparse.ArgumentParser, *, caller: bool) -> None:
    group = parser.add_argument_group("media")
    group.add_argument(
        "--play", type=Path, metavar="FILE",
        help="send a 16-bit WAV (resampled to 8 kHz) or the RTP of a pcap (as SIPp does)",
    )  # fmt: skip
    group.add_argument(
        "--record-sent", type=Path, metavar="FILE.wav", help="record the audio we send"
    )
    group.add_argument(
        "--codec", type=_codecs, default=("PCMU", "PCMA"), metavar="pcmu,pcma,g722,opus",
        help="codecs in order of preference (default pcmu,pcma; g722 and opus need PyAV, "
        "the codecs extra)",
    )  # fmt: skip
    group.add_argument(
        "--srtp", choices=SRTP_POLICIES, default="off",
        help="SDES-SRTP: optional offers RTP/AVP with a=crypto, mandatory RTP/SAVP and "
        "refuses (488) offers without keys",
    )  # fmt: skip
    group.add_argument(
        "--srtp-secure", action="store_true", help="SRTP only with TLS (sips) signalling"
    )
    group.add_argument(
        "--srtp-suites", type=_suites, default=DEFAULT_SUITES, metavar="SUITE,...",
        help="crypto-suites to offer/accept, in order",
    )  # fmt: skip
    group.add_argument("--no-media", action="store_true", help="SDP only, no RTP session")
    if caller:
        group.add_argument("--dtmf", metavar="DIGITS", help="send these DTMF digits once answered")
        group.add_argument("--dtmf-mode", choices=DTMF_MODES, default="rfc4733")
        group.add_argument(
            "--dtmf-delay", type=seconds, default=0.5, metavar="S",
            help="seconds after the answer before sending --dtmf",
        )  # fmt: skip
    else:
        group.add_argument("--echo", action="store_true", help="send back the RTP we receive")


def _load_source(path: Path) -> AudioSource | PcapStream:
    try:
        if path.suffix.lower() in (".pcap", ".pcapng", ".cap"):
            return read_pcap_rtp(path)
        return SamplesSource(read_wav(path))
    except MediaError as error:
        raise UsageError(str(error)) from None


def numbered(path: Path | None, index: int) -> Path | None:
    """``out.wav`` for the first call, ``out-2.wav`` for the second and so on."""
    if path is None or index <= 1:
        return path
    return path.with_name(f"{path.stem}-{index}{path.suffix}")


def media_options(
    args: argparse.Namespace, *, record: Path | None = None, index: int = 1
) -> MediaOptions:
    """The options for one call (each call gets its own source position)."""
    if args.no_media:
        return MediaOptions(enabled=False)
    source: AudioSource | PcapStream | None = None
    if args.play is not None:
        loaded = getattr(args, "_loaded_play", None)
        if loaded is None:
            loaded = _load_source(args.play)
            args._loaded_play = loaded
        source = SamplesSource(loaded.samples) if isinstance(loaded, SamplesSource) else loaded
    for path in (record, args.record_sent):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{path}: no such directory")
    return MediaOptions(
        codecs=args.codec,
        srtp=args.srtp,
        srtp_secure=args.srtp_secure,
        srtp_suites=args.srtp_suites,
        source=source,
        echo=getattr(args, "echo", False),
        record_received=numbered(record, index),
        record_sent=numbered(args.record_sent, index),
        dtmf_mode=getattr(args, "dtmf_mode", "rfc4733"),
    )


def describe_media(stats: MediaStats) -> str:
    """One line: codec, SRTP, packets both ways, loss, jitter, RTT, MOS."""
    rtt = "-" if stats.rtt_ms is None else f"{stats.rtt_ms:.1f} ms"
    mos = "-" if stats.mos is None else f"{stats.mos:.2f} (R {stats.r_factor:.1f})"
    srtp = f" SRTP {stats.srtp_suite}" if stats.srtp_suite else ""
    failures = f" {stats.srtp_auth_failures} SRTP auth failures" if stats.srtp_auth_failures else ""
    return (
        f"media {stats.codec}{srtp}: sent {stats.packets_sent} packets, received "
        f"{stats.packets_received}, lost {stats.packets_lost} ({stats.loss:.2%}), jitter "
        f"{stats.jitter_ms:.2f} ms, RTT {rtt}, MOS {mos}{failures}"
    )
