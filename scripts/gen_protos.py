"""Regenerate ``src/anyboard/proto/*_pb2.py`` and ``.pyi`` from ``proto/``.

The only way generated code is produced. The generator is pinned to
``grpcio-tools==1.51.3`` (bundled protoc 3.21.6): code from this protoc runs on
every protobuf runtime from 4.21 to 7.x, which is the range anyboard supports
(newer protoc emits a runtime-version check that rejects older runtimes).

Usage::

    python -m pip install grpcio-tools==1.51.3
    python scripts/gen_protos.py            # rewrite src/anyboard/proto
    python scripts/gen_protos.py --out DIR  # write elsewhere (the drift test does this)
"""

from __future__ import annotations

import argparse
import pathlib
import sys

GENERATOR = "grpcio-tools==1.51.3"
ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    """Run protoc over every ``proto/anyboard/proto/*.proto`` into ``out``."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - tooling message
        raise SystemExit(f"needs {GENERATOR}: python -m pip install '{GENERATOR}'") from exc
    version = getattr(grpc_tools, "__version__", None)
    try:
        from importlib.metadata import version as dist_version

        version = dist_version("grpcio-tools")
    except Exception:  # noqa: BLE001 - metadata missing is fine, checked below
        pass
    if version != GENERATOR.split("==")[1]:
        raise SystemExit(f"generator must be {GENERATOR}, found grpcio-tools {version}")
    sources = sorted(PROTO_ROOT.glob("anyboard/proto/*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        *map(str, sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out / "anyboard" / "proto").glob("*_pb2.py*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "src")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
