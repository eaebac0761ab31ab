"""Probe: send 10 kinds of bad value to every parameter of every named endpoint of a studio built on tiny
models, and count how the errors read: clear (a message that says what is wrong) or generic (Gradio's "has not
enabled verbose error reporting"). A measuring tool for issue #8; the fuzz test in the suite will assert 0.

    PYTHONPATH=. python scripts/probe_bad_inputs.py

2026-11-23: 155 calls ran, 942 clear errors, 183 generic (file and sketch payloads that fail pydantic validation
before any preprocess; the text_sample/text_branch step slider).
"""

import collections
import pathlib
import tempfile

from studio.registry import ModelRegistry
from tests.helpers import launched, tiny_family_specs

BAD = [None, -1, 10**12, "", "x" * 5000, [1, 2], {"a": 1}, True, 0.5, "nan"]


def main() -> None:
    root = pathlib.Path(tempfile.mkdtemp())
    reg = ModelRegistry(tiny_family_specs(root), device="cpu")
    generic, clear, ok = collections.Counter(), collections.Counter(), 0
    with launched(reg) as client:
        for name, info in client.view_api(return_format="dict")["named_endpoints"].items():
            params = info["parameters"]
            for i in range(len(params)):
                for bad in BAD:
                    args = [p.get("parameter_default") for p in params]
                    args[i] = bad
                    try:
                        client.predict(*args, api_name=name)
                        ok += 1
                    except Exception as err:  # noqa: BLE001 - classifying every failure is the point
                        msg = str(err)
                        if "verbose error reporting" in msg or msg.strip() in ("", "Error"):
                            generic[(name, params[i]["label"])] += 1
                        else:
                            clear[name] += 1
    print(f"ran {ok}, clear errors {sum(clear.values())}, generic errors {sum(generic.values())}")
    for (name, label), n in sorted(generic.items()):
        print(f"  generic: {name} / {label}: {n}")


if __name__ == "__main__":
    main()
