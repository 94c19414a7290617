"""The one error family of the media layer."""

from __future__ import annotations

__all__ = ["MediaError"]


class MediaError(ValueError):
    """Bad media input: a malformed packet, an unreadable WAV or pcap, a bad key.

    The message names the file or field, so the command line can print it as one line.
    """
