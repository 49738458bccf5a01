"""Blob remotes: where the store's chunks are shared (a folder, S3-compatible storage, SSH...).

See docs/remotes.md for the remote layout and the trust rules of remote settings.
"""
