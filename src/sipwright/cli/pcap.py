"""``sipwright pcap calls|flow|rtp|decrypt FILE``: what sngrep and tshark show about
SIP calls and their media, from a pcap or pcapng file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sipwright.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sipwright.evidence.pcap_writer import PcapWriter
from sipwright.pcapan.calls import summarize_calls
from sipwright.pcapan.capture import CaptureError, Packet, read_packets
from sipwright.pcapan.ladder import ladder_html, ladder_text
from sipwright.pcapan.rtp import analyze_rtp, media_from_sdp, parse_rtp
from sipwright.pcapan.sip_messages import SipPacket, sip_messages
from sipwright.pcapan.srtp import (
    SUITES,
    SrtpKey,
    SrtpKeyError,
    decrypt_packets,
    parse_crypto,
    parse_inline_key,
)
from sipwright.pcapan.wav import TABLES, write_wav

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "pcap",
        help="analyse a capture: SIP calls, ladder diagrams, RTP streams, SRTP decryption",
        description="Read a pcap or pcapng file (Ethernet, Linux cooked, loopback or raw "
        "IP; IPv4/IPv6; SIP over UDP and reassembled TCP). Exit 0 on success, 1 when "
        "the capture holds nothing to show (or a key fits nothing), 2 for bad input.",
    )
    actions = parser.add_subparsers(dest="pcap_command", metavar="ACTION", required=True,
                                    parser_class=type(parser))  # fmt: skip
    calls = actions.add_parser("calls", help="one line per Call-ID: parties, status, PDD")
    calls.add_argument("file", type=Path)
    calls.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    calls.set_defaults(run=_calls)

    flow = actions.add_parser("flow", help="ladder diagram of the SIP messages")
    flow.add_argument("file", type=Path)
    flow.add_argument("--call-id", help="only this call")
    flow.add_argument("--html", type=Path, metavar="OUT.html", help="write a clickable page")
    flow.set_defaults(run=_flow)

    rtp = actions.add_parser("rtp", help="RTP streams: SSRC, payload type, loss, jitter")
    rtp.add_argument("file", type=Path)
    rtp.add_argument("--dtmf", action="store_true", help="list RFC 4733 digits per stream")
    rtp.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    rtp.set_defaults(run=_rtp)

    decrypt = actions.add_parser(
        "decrypt", help="decrypt SRTP with SDES keys (plain RTP pcap, optionally WAV)"
    )
    decrypt.add_argument("file", type=Path)
    source = decrypt.add_mutually_exclusive_group(required=True)
    source.add_argument("--key", metavar="INLINE_KEY", help="base64 master key||salt")
    source.add_argument("--from-sdp", action="store_true", help="a=crypto keys of the capture")
    decrypt.add_argument("--suite", default="AES_CM_128_HMAC_SHA1_80", choices=list(SUITES))
    decrypt.add_argument("--out", type=Path, metavar="OUT.pcap", help="write plain RTP here")
    decrypt.add_argument(
        "--wav", metavar="PREFIX",
        help="also write each G.711 stream as PREFIX-<ssrc>.wav (8 kHz, 16 bit)",
    )  # fmt: skip
    decrypt.set_defaults(run=_decrypt)


def _fail(action: str, message: str, code: int) -> int:
    sys.stderr.write(f"sipwright pcap {action}: {message}\n")
    return code


def _load(path: Path) -> tuple[list[Packet], list[SipPacket]]:
    packets = read_packets(path)
    return packets, sip_messages(packets)


def _guard(action: str, args: argparse.Namespace, work: Any) -> int:
    try:
        result: int = work(args)
    except CaptureError as error:
        return _fail(action, str(error), EXIT_USAGE)
    except SrtpKeyError as error:
        return _fail(action, f"--key: {error}", EXIT_USAGE)
    except OSError as error:
        return _fail(action, f"{error.filename}: {error.strerror}", EXIT_USAGE)
    return result


def _calls(args: argparse.Namespace) -> int:
    return _guard("calls", args, _calls_work)


def _calls_work(args: argparse.Namespace) -> int:
    _, messages = _load(args.file)
    if not messages:
        return _fail("calls", f"{args.file}: no SIP messages in the capture", EXIT_FAILED)
    calls = summarize_calls(messages)
    if args.json:
        print(json.dumps([call.as_dict() for call in calls], indent=2))
        return EXIT_OK
    print(f"{'start':<23} {'method':<9} {'status':<18} {'pdd':>8} {'duration':>9}  "
          "from -> to  [call-id]")  # fmt: skip
    for call in calls:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(call.start))
        started += f".{int(call.start * 1000) % 1000:03d}"
        status = f"{call.final_status} {call.final_reason}" if call.final_status else "-"
        pdd = f"{call.pdd:.3f}s" if call.pdd is not None else "-"
        duration = f"{call.duration:.3f}s" if call.duration is not None else "-"
        print(f"{started:<23} {call.method:<9} {status[:18]:<18} {pdd:>8} {duration:>9}  "
              f"{call.from_} -> {call.to}  [{call.call_id}]")  # fmt: skip
    return EXIT_OK


def _flow(args: argparse.Namespace) -> int:
    return _guard("flow", args, _flow_work)


def _flow_work(args: argparse.Namespace) -> int:
    _, messages = _load(args.file)
    if args.call_id is not None:
        messages = [m for m in messages if m.call_id == args.call_id]
        if not messages:
            return _fail("flow", f"{args.file}: no call with Call-ID {args.call_id}", EXIT_FAILED)
    if not messages:
        return _fail("flow", f"{args.file}: no SIP messages in the capture", EXIT_FAILED)
    sys.stdout.write(ladder_text(messages))
    if args.html is not None:
        title = f"SIP flow: {args.file.name}" + (f" ({args.call_id})" if args.call_id else "")
        args.html.write_text(ladder_html(messages, title), encoding="utf-8")
    return EXIT_OK


def _rtp(args: argparse.Namespace) -> int:
    return _guard("rtp", args, _rtp_work)


def _rtp_work(args: argparse.Namespace) -> int:
    packets, messages = _load(args.file)
    info = media_from_sdp(messages)
    streams = analyze_rtp(packets, info, sdp_seen=bool(info.addresses))
    if not streams:
        return _fail("rtp", f"{args.file}: no RTP streams in the capture", EXIT_FAILED)
    if args.json:
        print(json.dumps([stream.as_dict() for stream in streams], indent=2))
        return EXIT_OK
    print(f"{'source':<22} {'destination':<22} {'ssrc':<10} {'pt':>4} {'packets':>8} "
          f"{'lost':>6} {'loss%':>6} {'jitter ms':>10}")  # fmt: skip
    for stream in streams:
        data = stream.as_dict()
        print(f"{data['source']!s:<22} {data['destination']!s:<22} {data['ssrc']!s:<10} "
              f"{stream.payload_type:>4} {stream.packets:>8} {stream.lost:>6} "
              f"{data['loss_percent']!s:>6} {stream.jitter_ms:>10.3f}")  # fmt: skip
        if args.dtmf:
            for event in stream.events:
                print(f"    dtmf {event.digit}  {event.duration_ms:.0f} ms  "
                      f"(rtp timestamp {event.rtp_timestamp})")  # fmt: skip
    return EXIT_OK


def _decrypt(args: argparse.Namespace) -> int:
    return _guard("decrypt", args, _decrypt_work)


def _decrypt_work(args: argparse.Namespace) -> int:
    packets, messages = _load(args.file)
    info = media_from_sdp(messages)
    by_address: dict[tuple[str, int], list[SrtpKey]] = {}
    keys: list[SrtpKey] = []
    if args.key is not None:
        keys.append(parse_inline_key(args.key, args.suite))
    else:
        for address, lines in info.crypto.items():
            for line in lines:
                key = parse_crypto(line)
                if key is not None:
                    by_address.setdefault(address, []).append(key)
                    keys.append(key)
        if not keys:
            return _fail("decrypt", f"{args.file}: no usable a=crypto key in its SDP", 1)
    media = info.addresses or None
    result = decrypt_packets(packets, by_address, keys, media=media)
    if not result.streams:
        return _fail("decrypt", f"{args.file}: no SRTP packets in the capture", EXIT_FAILED)
    for (source, ssrc), key in result.streams.items():
        where = f"{source[0]}:{source[1]} ssrc 0x{ssrc:08x}"
        failed = result.failed.get((source, ssrc), 0)
        if key is None:
            print(f"{where}: no key authenticates its {failed} packets")
        else:
            decrypted = sum(1 for p in packets if p.number in result.plain and p.source == source)
            print(f"{where}: {key.suite}, {decrypted} packets decrypted, {failed} failed")
    if args.out is not None:
        _write_plain(args.out, packets, messages, result.plain)
    if args.wav is not None:
        _write_wavs(args.wav, packets, result.plain)
    if result.undecrypted_streams:
        first = result.undecrypted_streams[0]
        return _fail(
            "decrypt",
            f"{args.file}: wrong key: no packet of {first[0][0]}:{first[0][1]} "
            f"(ssrc 0x{first[1]:08x}) authenticates",
            EXIT_FAILED,
        )
    return EXIT_OK


def _write_plain(
    out: Path, packets: list[Packet], messages: list[SipPacket], plain: dict[int, bytes]
) -> None:
    """UDP datagrams (decrypted where we could) and SIP over TCP, in capture order."""
    writer = PcapWriter(out)
    try:
        items: list[tuple[float, int, str, Packet | SipPacket]] = [
            (p.time, p.number, "udp", p) for p in packets if p.transport == "udp"
        ]
        items += [(m.time, m.number, "tcp", m) for m in messages if m.transport == "tcp"]
        for when, number, transport, item in sorted(items, key=lambda entry: entry[:2]):
            payload = plain.get(number, item.payload) if isinstance(item, Packet) else item.raw
            writer.write_payload(transport, item.source, item.destination, payload, when)
    finally:
        writer.close()


def _write_wavs(prefix: str, packets: list[Packet], plain: dict[int, bytes]) -> None:
    streams: dict[tuple[tuple[str, int], int], list[tuple[int, int, bytes]]] = {}
    for packet in packets:
        data = plain.get(packet.number)
        header = parse_rtp(data) if data is not None else None
        if header is not None:
            key = (packet.source, header.ssrc)
            streams.setdefault(key, []).append(
                (header.sequence, header.payload_type, header.payload)
            )
    for (source, ssrc), items in streams.items():
        media = [item for item in items if item[1] in TABLES]
        if not media:
            print(f"{source[0]}:{source[1]} ssrc 0x{ssrc:08x}: not G.711, no WAV written")
            continue
        path = Path(f"{prefix}-{ssrc:08x}.wav")
        count = write_wav(
            path, media[0][1], (payload for _, pt, payload in media if pt == media[0][1])
        )
        print(f"wrote {count} samples ({count / 8000:.2f} s) to {path}")
