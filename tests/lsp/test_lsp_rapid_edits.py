"""200 rapid edits, interleaved over two documents and sent without waiting: the final
diagnostics of each equal those of `inbatch check --format json` on its final text, and no
older version's diagnostics are published after a newer one's."""

import json
import random
import subprocess

import pytest

from lsp_client import N_PLUS_ONE, utf16_len

pytestmark = pytest.mark.asyncio

SEED = 20240611

SNIPPETS = [
    "",
    "x",
    "uid",
    "\n",
    "    ",
    "(",
    ")",
    "🎉",
    "é",
    "for uid in user_ids:\n",
    "        Session.query.get(uid)\n",
    "Payment.query.filter_by(user_id=uid).all()",
    "# noqa: INB001",
]


def expected_from_check(inbatch_bin, path, text):
    """`inbatch check --format json` on the text, as (code, start, end) in UTF-16 positions."""
    path.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [inbatch_bin, "check", "--format", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    lines = text.split("\n")

    def utf16(location):
        # JSON columns are 1-based characters; LSP columns are UTF-16 units.
        line = location["row"] - 1
        chars = location["column"] - 1
        return (line, utf16_len(lines[line][:chars]))

    return [
        (d["code"], utf16(d["location"]), utf16(d["end_location"]))
        for d in json.loads(out.stdout)
    ]


def as_tuples(diagnostics):
    return [
        (d.code, (d.range.start.line, d.range.start.character),
         (d.range.end.line, d.range.end.character))
        for d in diagnostics
    ]


async def test_rapid_interleaved_edits_end_in_the_checked_state(lsp, inbatch_bin, tmp_path):
    server = await lsp()
    rng = random.Random(SEED)
    start_text = N_PLUS_ONE + "\n\n# scratch\ndef scratch(user_ids):\n    pass\n"
    uris = [server.open("first.py", start_text), server.open("second.py", start_text)]
    for uri in uris:
        await server.diagnostics(uri, 1)
    for step in range(200):
        uri = uris[step % 2]
        text = server.texts[uri]
        # Below the scratch marker (never edited itself), where findings come and go, under
        # the two that stay.
        floor = text.index("# scratch\n") + len("# scratch\n")
        start = rng.randrange(floor, len(text) + 1)
        end = min(len(text), start + rng.choice([0, 0, 1, 2, 5, 20]))
        server.edit(uri, start, end, rng.choice(SNIPPETS))

    for index, uri in enumerate(uris):
        final = await server.diagnostics(uri, code=None)
        expected = expected_from_check(inbatch_bin, tmp_path / f"final{index}.py",
                                       server.texts[uri])
        assert as_tuples(final) == expected
        assert len(final) >= 2
        versions = [p.version for p in server.published.by_uri[uri]]
        assert versions == sorted(versions), "an older version was published after a newer one"
        assert versions[-1] == server.versions[uri]


async def test_final_state_still_has_findings(lsp, inbatch_bin, tmp_path):
    """A deterministic variant that ends with findings, so equality is not trivially `[] == []`."""
    server = await lsp()
    uri = server.open("a.py", N_PLUS_ONE)
    await server.diagnostics(uri, 1)
    for _ in range(100):
        text = server.texts[uri]
        at = text.index("        return") if "        return" in text else text.index("    return")
        server.edit(uri, at, at, "        x = 1\n")
        text = server.texts[uri]
        at = text.index("        x = 1\n")
        server.edit(uri, at, at + len("        x = 1\n"), "")
    final = await server.diagnostics(uri, code=None)
    assert server.texts[uri] == N_PLUS_ONE
    assert len([d for d in final if d.code == "INB001"]) == 2
    assert as_tuples(final) == expected_from_check(inbatch_bin, tmp_path / "a.py", N_PLUS_ONE)
