"""Blob remote on AZURE: a real emulator (Azurite) on loopback, through fsspec's az file system."""

from __future__ import annotations

from cloud_support import (  # noqa: F401
    azurite,
    corrupt_object_is_refused,
    new_url,
    push_clone_fetch_verify,
)


def test_push_clone_fetch_switch_verify_through_azure(tmp_path, azurite):  # noqa: F811
    push_clone_fetch_verify(tmp_path, new_url("az"), azurite)


def test_corrupted_azure_object_is_refused_and_nothing_wrong_is_written(tmp_path, azurite):  # noqa: F811
    corrupt_object_is_refused(tmp_path, new_url("az"), azurite)
