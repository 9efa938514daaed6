"""editors/helix/languages.toml is valid TOML with the keys Helix reads."""

import tomllib


def test_helix_languages_toml(repo):
    data = tomllib.loads((repo / "editors" / "helix" / "languages.toml").read_text())
    server = data["language-server"]["inbatch"]
    assert server["command"] == "inbatch"
    assert server["args"] == ["server"]
    assert isinstance(server["config"]["batchSize"], int)
    python = [lang for lang in data["language"] if lang["name"] == "python"]
    assert len(python) == 1 and "inbatch" in python[0]["language-servers"]
