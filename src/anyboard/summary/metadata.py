"""The one ``SummaryMetadata`` builder every summary type uses.

``data_class`` is left unset (0): both TensorBoard loaders then derive it from
the plugin name, and an explicit value would switch off their read-time
conversions (see docs on the loaders).
"""

from __future__ import annotations

import functools

from anyboard.proto.summary_pb2 import SummaryMetadata


@functools.lru_cache(maxsize=1024)
def _cached(plugin_name: str, content: bytes, display_name: str, description: str) -> bytes:
    md = SummaryMetadata(display_name=display_name, summary_description=description)
    md.plugin_data.plugin_name = plugin_name
    md.plugin_data.content = content
    return md.SerializeToString()


def metadata(
    plugin_name: str, content: bytes = b"", *, display_name: str = "", description: str = ""
) -> SummaryMetadata:
    """Return ``SummaryMetadata`` for ``plugin_name`` with serialized ``content``."""
    md = SummaryMetadata()
    md.ParseFromString(_cached(plugin_name, content, display_name, description))
    return md
