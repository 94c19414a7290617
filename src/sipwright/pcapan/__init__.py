"""Analysis of capture files (pcap and pcapng): SIP calls and ladders, RTP streams
with loss, jitter and RFC 4733 digits, SRTP decryption with SDES keys.

Everything here reads files and returns data; ``cli/pcap.py`` prints it.
"""
