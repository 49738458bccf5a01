"""Blob remote on GCS: a real emulator (gcp-storage-emulator) on loopback, through fsspec's gs file system."""

from __future__ import annotations

from cloud_support import (  # noqa: F401
    corrupt_object_is_refused,
    gcs,
    new_url,
    push_clone_fetch_verify,
)


def test_push_clone_fetch_switch_verify_through_gcs(tmp_path, gcs):  # noqa: F811
    push_clone_fetch_verify(tmp_path, new_url("gs"), gcs)


def test_corrupted_gcs_object_is_refused_and_nothing_wrong_is_written(tmp_path, gcs):  # noqa: F811
    corrupt_object_is_refused(tmp_path, new_url("gs"), gcs)
