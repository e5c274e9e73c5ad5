"""Lomuz edge player: the headless daemon that plays scheduled media in a shop."""

__version__ = "0.1.0"
