"""A client generated from the served document (openapi-python-client) covers every
operation and works against ``lomuz-control serve``: an upload and a GET.

The generator's configuration (tools/openapi/client-config.yaml) picks the upload's
Content-Type, as a director's tool would (the generator knows no audio/* body).
"""

from __future__ import annotations

import importlib
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.control_api.media_samples import wav
from tests.control_api.openapi.test_document import operations

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "tools" / "openapi" / "client-config.yaml"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "lomuz_generated_client"


def snake_case(operation_id: str) -> str:
    """The generator's module name for an operationId (uploadAsset -> upload_asset)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


@pytest.fixture
def generated(
    server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, dict[str, Any], str, str]]:
    base, admin = server
    document = httpx.get(f"{base}/v1/openapi.json", timeout=10)
    assert document.status_code == 200
    spec = tmp_path / "openapi.json"
    spec.write_bytes(document.content)
    out = tmp_path / PACKAGE
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(out),
            "--meta",
            "none",
            "--config",
            str(CONFIG),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield out, document.json(), base, admin
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_every_operation_has_a_module_and_the_client_uploads_and_reads(
    generated: tuple[Path, dict[str, Any], str, str],
) -> None:
    out, document, base, admin = generated
    modules = {p.stem for p in (out / "api").glob("*/*.py") if p.stem != "__init__"}
    wanted = {snake_case(op["operationId"]) for _, _, op in operations(document)}
    assert "upload_asset" in wanted
    assert wanted - modules == set(), f"operations the generated client lacks: {wanted - modules}"

    client_module = _module("client")
    types = _module("types")
    upload_asset = _module("api.assets.upload_asset")
    get_asset = _module("api.assets.get_asset")
    list_assets = _module("api.assets.list_assets")
    data = wav(b"\x01\x02" * 4000)
    with client_module.AuthenticatedClient(base_url=base, token=admin, timeout=30) as client:
        created = upload_asset.sync_detailed(
            client=client,
            body=types.File(payload=io.BytesIO(data), file_name="song.wav"),
            filename="song.wav",
            title="Song",
        )
        assert created.status_code == 201, created.content
        asset = created.parsed
        assert asset.content_type == "audio/wav"
        assert asset.filename == "song.wav"
        assert asset.size == len(data)

        fetched = get_asset.sync(client=client, id=asset.id)
        assert fetched.to_dict() == asset.to_dict()
        page = list_assets.sync(client=client, limit=10)
        assert [a.id for a in page.items] == [asset.id]

        again = upload_asset.sync_detailed(
            client=client, body=types.File(payload=io.BytesIO(data), file_name="song.wav")
        )
        assert again.status_code == 200  # the same bytes: the existing asset
        assert again.parsed.id == asset.id
