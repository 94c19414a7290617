"""Evidence of what sipwright sent and received: pcap files and HEP mirroring."""

from sipwright.evidence.hep import HepPacket, HepSender, decode_hep, encode_hep
from sipwright.evidence.pcap_writer import PacketSynthesizer, PcapWriter

__all__ = [
    "HepPacket",
    "HepSender",
    "PacketSynthesizer",
    "PcapWriter",
    "decode_hep",
    "encode_hep",
]
