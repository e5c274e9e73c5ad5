"""Pure rules of the player: no I/O, no third-party imports, time as a parameter."""
