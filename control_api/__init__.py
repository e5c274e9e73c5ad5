"""Lomuz edge control API: where the director manages media, playlists and devices."""

__version__ = "0.1.0"
