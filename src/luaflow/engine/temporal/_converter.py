"""The data converter of luaflow's clients and workers: the SDK's, refusing raw bytes inside JSON.

Lua strings that are not UTF-8 arrive in Python as bytes. As a whole value they travel as
`binary/plain` (R16); inside a table the SDK's JSON encoder would turn them into lists of byte
values without a word, so this one refuses them. Workflow code never gets that far (values are
checked where they leave Lua, with `nil, err` for the code that made them); this covers what host
code hands to the client directly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


class _JSONEncoder(AdvancedJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, bytes | bytearray | memoryview):
            raise TypeError(
                "a string that is not valid UTF-8 cannot travel inside JSON (only as a whole value)"
            )
        return super().default(o)


#: The SDK's converters with the JSON one swapped. Made once: the SDK builds a payload converter
#: for every workflow activation, and the converters hold no state.
_CONVERTERS = tuple(
    JSONPlainPayloadConverter(encoder=_JSONEncoder)
    if isinstance(c, JSONPlainPayloadConverter)
    else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class _PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(*_CONVERTERS)


DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=_PayloadConverter
)
