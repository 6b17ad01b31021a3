"""The wire shapes of data and versions: AERO's keys in AERO's order, then Sluice's
extras (one shape for the AERO surface and the native routes)."""

from __future__ import annotations

from typing import Any

from service.data.fields import iso
from service.db import Document


def content_path(data_id: str, version: int) -> str:
    """The native route streaming a version's bytes."""
    return f"/aero/data/{data_id}/versions/{version}/content"


def data_json(doc: Document) -> dict[str, Any]:
    """DataJSON: id, name, url, collection_uuid, collection_url, description,
    available_versions; extras tags, created_at, latest_version, kind, owner,
    producer_flow_id, updated_at."""
    hint = doc.get("storage_hint") or {}
    latest = doc.get("latest")
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "url": doc.get("url"),
        "collection_uuid": hint.get("collection_uuid"),
        "collection_url": hint.get("collection_url"),
        "description": doc.get("description", ""),
        "available_versions": int(doc.get("version_count", 0)),
        "tags": doc.get("tags", []),
        "created_at": iso(doc.get("created_at")),
        "latest_version": None if latest is None else latest.get("version"),
        "kind": doc.get("kind", "source"),
        "owner": doc.get("owner"),
        "producer_flow_id": doc.get("producer_flow_id"),
        "updated_at": iso(doc.get("updated_at")),
    }


def version_json(version: Document, data: Document | None = None) -> dict[str, Any]:
    """VersionJSON: id, data (DataJSON, when `data` is given), version, created_at,
    checksum, data_file; extras data_id, size, sha256, source_checksum, source_sha256,
    source_key, run_id, flow_id, content_url (null for a reference-only version)."""
    file = version.get("file") or {}
    hint = (data or {}).get("storage_hint") or {}
    shown: dict[str, Any] = {"id": version["_id"]}
    if data is not None:
        shown["data"] = data_json(data)
    shown.update(
        {
            "version": version["version"],
            "created_at": iso(version.get("created_at")),
            "checksum": version.get("checksum"),
            "data_file": {
                "file_name": file.get("file_name"),
                "collection_url": hint.get("collection_url"),
                "file_type": file.get("file_type"),
                "file_size": version.get("size"),
                "encoding": file.get("encoding"),
            }
            if file
            else None,
            "data_id": version["data_id"],
            "size": version.get("size"),
            "sha256": version.get("sha256"),
            "source_checksum": version.get("source_checksum"),
            "source_sha256": version.get("source_sha256"),
            "source_key": version.get("source_key"),
            "run_id": version.get("run_id"),
            "flow_id": version.get("flow_id"),
            "content_url": content_path(version["data_id"], version["version"])
            if file.get("blob_id")
            else None,
        }
    )
    return shown


def function_json(doc: Document) -> dict[str, Any]:
    """A registered function: id, path, description, owner, kind, meta, created_at."""
    return {
        "id": doc["_id"],
        "path": doc["path"],
        "description": doc.get("description", ""),
        "owner": doc.get("owner"),
        "kind": doc.get("kind", "user"),
        "meta": {k: iso(v) if k == "reported_at" else v for k, v in doc.get("meta", {}).items()},
        "created_at": iso(doc.get("created_at")),
    }
