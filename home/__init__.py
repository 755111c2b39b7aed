"""Where one user's things live on disk: the home folder, config.toml, the SQLite store,
and the one way this project writes a private file.

``core`` touches no disk; everything that does, but for the carriers' own files, is here.
"""
