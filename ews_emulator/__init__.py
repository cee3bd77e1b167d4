"""An Exchange Web Services emulator: a real SOAP server that exchangelib talks to.

Run it with `python -m ews_emulator`; drive it from tests with `ews_emulator.testing`
and `ews_emulator.control`. See README.md.
"""

__version__ = "0.1.0"
