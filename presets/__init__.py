"""The preset TOML files shipped with l2zoo (installed as the package l2zoo.preset_files)."""
