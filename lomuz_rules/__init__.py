"""Rules shared by the player and the control API: pure, stdlib only.

``player`` and ``control_api`` may both import this package; it imports
neither, and neither imports the other (import-linter contracts in
pyproject.toml, plus tests/rules/test_stdlib_only.py).

- :mod:`lomuz_rules.model`: the catalogue types the rules read and the
  decision they produce;
- :mod:`lomuz_rules.schedule`: what plays at an instant, and why
  (DESIGN.md §3.1), and the timeline of decisions over a range;
- :mod:`lomuz_rules.media_format`: the media allow-list and the
  identification of a file from its leading bytes.
"""
