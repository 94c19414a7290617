"""Reports of test runs: SIPp-compatible statistics (counters and file writers)."""
